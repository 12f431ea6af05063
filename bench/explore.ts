// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Explorer benchmarks: schedules per host second per core on the basic scenario (one worker,
 * this thread), the same campaign with two worker threads (the ratio of the rates is what a
 * second core buys; 2.0 would be linear), and the time to the first violation, shrinking
 * excluded, for each quirk's own scenario. Rates count from the moment the runners are up: a
 * worker thread loads the lab (tsx, capstone, the image) before its first schedule.
 */
import { explore, type CampaignOptions } from '../src/lab/explore/campaign.ts';
import { attachConsistencyChecker } from '../src/lab/checker.ts';
import { resolveScenario } from '../src/lab/explore/scenarios.ts';
import { QUIRKS } from '../src/lab/quirks.ts';

// the explorer's checker: the consistency checker, as the CLI attaches it
const checker = attachConsistencyChecker;
const checkerRef = { module: new URL('../src/lab/checker.ts', import.meta.url).href, name: 'attachConsistencyChecker' };

export interface ExploreBench {
  /** Schedules of each basic campaign. */
  runs: number;
  /** Schedules per host second with 1 and 2 workers. */
  rate1: number;
  rate2: number;
  /** Per quirk: host seconds to the first violation and its index, or undefined. */
  quirks: { name: string; seconds: number; index?: number; kind?: string }[];
}

/** quirkRuns bounds each quirk's campaign, which stops at its first violation: rcu-idle's needs a vCPU stall at one of a few instructions, a few hundred schedules in. */
export async function measureExplore(runs = 24, quirkRuns = 500): Promise<ExploreBench> {
  const base: CampaignOptions = { ...resolveScenario('basic', undefined), seed: 1n, runs, checker, checkerRef };
  const one = await explore({ ...base, workers: 1 });
  const two = await explore({ ...base, workers: 2 });
  const quirks = [];
  for (const q of QUIRKS) {
    const r = await explore({ ...resolveScenario(undefined, q.name), seed: 1n, runs: quirkRuns, checker, checkerRef, shrink: false });
    quirks.push({ name: q.name, seconds: r.seconds, index: r.found?.index, kind: r.found?.replay.violation.kind });
  }
  const rate = (r: typeof one) => r.schedules / (r.seconds - r.startSeconds);
  return { runs, rate1: rate(one), rate2: rate(two), quirks };
}

export function formatExplore(b: ExploreBench): string[] {
  return [
    `explorer: basic scenario (default workload, 4 vCPUs), campaigns of ${b.runs} schedules`,
    `  ${b.rate1.toFixed(2)} schedules per second per core (1 worker)`,
    `  ${b.rate2.toFixed(2)} schedules per second with 2 worker threads: ratio 2/1 workers ${(b.rate2 / b.rate1).toFixed(2)} (linear: 2.00)`,
    ...b.quirks.map((q) =>
      q.index === undefined
        ? `  quirk ${q.name}: no violation in ${q.seconds.toFixed(1)} s`
        : `  quirk ${q.name}: first violation (${q.kind}) at schedule #${q.index} after ${q.seconds.toFixed(1)} s on one core, shrinking excluded`,
    ),
  ];
}

export async function runExploreBench(): Promise<string[]> {
  return formatExplore(await measureExplore());
}
