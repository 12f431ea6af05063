// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A campaign: one scenario under schedule 0, 1, 2, ... of one campaign seed, until a budget of
 * runs or of host seconds is spent or a schedule shows a violation. Indices are handed out in
 * increasing order, to this thread or to worker threads; once a violation is seen no new index
 * is handed out and the ones running finish, so the violation reported is the one of the
 * lowest index that has one, whatever the number of workers. It is then shrunk and recorded
 * as a replay file.
 *
 * A shard K/N takes the indices i with i mod N = K, so N shards together cover exactly the
 * indices of the unsharded campaign; each writes a result file and mergeShards() joins them:
 * schedules covered, the first violation by index.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Quirk } from '../quirks.ts';
import type { Scenario } from '../scenario.ts';
import type { CheckerFactory } from '../violation.ts';
import { startRunners, type CheckerRef, type IndexResult } from './pool.ts';
import { REPLAY_FORMAT, type ReplayFile } from './replay.ts';
import { ExploreError } from './scenarios.ts';
import { shrinkSchedule } from './shrink.ts';

export interface Shard {
  /** 0 .. n-1 */
  k: number;
  n: number;
}

/** Parses K/N (or N alone, K then from `envK`); ExploreError for anything else. */
export function parseShard(value: string, envK?: string): Shard {
  const m = /^(?:(\d+)\/)?(\d+)$/.exec(value);
  const n = m ? Number(m[2]) : NaN;
  const kText = m?.[1] ?? envK;
  if (!m || !(n >= 1))
    throw new ExploreError(
      `bad shard '${value}': it must be K/N with 0 <= K < N (or N, K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)`,
    );
  if (kText === undefined)
    throw new ExploreError(`shard '${value}' has no K, and neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set`);
  const k = /^\d+$/.test(kText) ? Number(kText) : NaN;
  if (!(k >= 0 && k < n)) throw new ExploreError(`bad shard index ${kText} of ${n}: it must be from 0 to ${n - 1}`);
  return { k, n };
}

export interface Progress {
  schedules: number;
  seconds: number;
  /** Distinct courses the runs took (RunOutcome.outcome). */
  outcomes: number;
  /** The lowest index with a violation so far. */
  first?: { index: number; kind: string };
}

export interface CampaignOptions {
  scenario: Scenario;
  quirk?: Quirk;
  seed: bigint;
  /** The campaign's size in schedule indices (a shard runs its part of them). */
  runs?: number;
  /** Host milliseconds to spend at most (when runs is not given, or as well). */
  budgetMs?: number;
  workers?: number;
  shard?: Shard;
  checker: CheckerFactory;
  /** The same checker, for worker threads. */
  checkerRef: CheckerRef;
  modulePath?: readonly string[];
  /** Shrink what is found (default), for at most this many host ms. */
  shrink?: boolean;
  shrinkBudgetMs?: number;
  onProgress?: (p: Progress) => void;
}

export interface Found {
  index: number;
  replay: ReplayFile;
  /** Shrinking: runs tried, changes kept. */
  shrinkTries: number;
  shrinkKept: number;
}

export interface CampaignResult {
  found?: Found;
  /** Schedules run to their end (a shrink's runs are not counted). */
  schedules: number;
  seconds: number;
  /** The indices run, in increasing order. */
  indices: number[];
  /** The distinct courses seen. */
  outcomes: string[];
  /** Of `seconds`, the time to start the runners (worker threads load the lab first). */
  startSeconds: number;
}

export async function explore(o: CampaignOptions): Promise<CampaignResult> {
  const t0 = performance.now();
  const shard = o.shard ?? { k: 0, n: 1 };
  if (o.runs === undefined && o.budgetMs === undefined) throw new ExploreError('a campaign needs a budget: runs or seconds');
  const deadline = o.budgetMs === undefined ? Infinity : t0 + o.budgetMs;
  const runners = await startRunners({ ...o, checker: o.checker, checkerRef: o.checkerRef }, o.workers ?? 1);
  const startSeconds = (performance.now() - t0) / 1000;
  const done: IndexResult[] = [];
  const outcomes = new Set<string>();
  let first: IndexResult | undefined;
  let j = 0;
  const nextIndex = (): number | undefined => {
    const i = shard.k + j * shard.n;
    if (first || (o.runs !== undefined && i >= o.runs) || performance.now() >= deadline) return undefined;
    j++;
    return i;
  };
  const progress = () =>
    o.onProgress?.({
      schedules: done.length,
      seconds: (performance.now() - t0) / 1000,
      outcomes: outcomes.size,
      ...(first ? { first: { index: first.index, kind: first.outcome.violation!.kind } } : {}),
    });
  try {
    await Promise.all(
      runners.map(async (r) => {
        for (let i = nextIndex(); i !== undefined; i = nextIndex()) {
          const res = await r.run(i);
          done.push(res);
          outcomes.add(res.outcome.outcome);
          if (res.outcome.violation && (!first || res.index < first.index)) first = res;
          progress();
          // a runner in this thread would hold the event loop for the whole campaign (whoever
          // waits to be heard meanwhile: a test runner, a signal handler)
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
  } finally {
    await Promise.all(runners.map((r) => r.close()));
  }
  let found: Found | undefined;
  if (first) {
    let { schedule, outcome } = first;
    let tries = 0;
    let kept = 0;
    if (o.shrink !== false) {
      const s = await shrinkSchedule(o.scenario, schedule, outcome, o.checker, { modulePath: o.modulePath, budgetMs: o.shrinkBudgetMs });
      ({ schedule, outcome, tries, kept } = s);
    }
    found = {
      index: first.index,
      shrinkTries: tries,
      shrinkKept: kept,
      replay: {
        format: REPLAY_FORMAT,
        scenario: o.scenario,
        quirk: o.quirk?.name ?? null,
        campaign: { seed: o.seed.toString(), index: first.index },
        schedule,
        ...(schedule !== first.schedule ? { original: first.schedule } : {}),
        violation: outcome.violation!,
        digest: outcome.digest,
        emulatedNs: outcome.emulatedNs,
      },
    };
  }
  return {
    ...(found ? { found } : {}),
    schedules: done.length,
    seconds: (performance.now() - t0) / 1000,
    indices: done.map((d) => d.index).sort((a, b) => a - b),
    outcomes: [...outcomes].sort(),
    startSeconds,
  };
}

// --- shards ---------------------------------------------------------------------------------

export const SHARD_FORMAT = 'klp-lab-shard/1';

export interface ShardResult {
  format: typeof SHARD_FORMAT;
  scenario: string;
  quirk: string | null;
  seed: string;
  shard: Shard;
  runs: number | null;
  schedules: number;
  seconds: number;
  indices: number[];
  outcomes: string[];
  found: { index: number; replay: ReplayFile } | null;
}

export function shardResult(o: CampaignOptions, r: CampaignResult): ShardResult {
  return {
    format: SHARD_FORMAT,
    scenario: o.scenario.name,
    quirk: o.quirk?.name ?? null,
    seed: o.seed.toString(),
    shard: o.shard ?? { k: 0, n: 1 },
    runs: o.runs ?? null,
    schedules: r.schedules,
    seconds: r.seconds,
    indices: r.indices,
    outcomes: r.outcomes,
    found: r.found ? { index: r.found.index, replay: r.found.replay } : null,
  };
}

export function writeShardResult(file: string, s: ShardResult): void {
  writeFileSync(file, JSON.stringify(s) + '\n');
}

export interface Merged {
  scenario: string;
  quirk: string | null;
  seed: string;
  n: number;
  /** Shard indices present, and missing. */
  shards: number[];
  missing: number[];
  schedules: number;
  /** The longest shard's host seconds (they ran side by side). */
  seconds: number;
  indices: number[];
  outcomes: number;
  found: { index: number; replay: ReplayFile } | null;
}

/** Joins the shard result files of DIR (every *.json in it with the shard format). */
export function mergeShards(dir: string): Merged {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch (e) {
    throw new ExploreError(`cannot read shard folder '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const shards: ShardResult[] = [];
  for (const f of names.sort()) {
    let v: ShardResult;
    try {
      v = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ShardResult;
    } catch {
      continue; // not ours
    }
    if (v?.format !== SHARD_FORMAT) continue;
    const head = shards[0];
    if (
      head &&
      (v.scenario !== head.scenario || v.quirk !== head.quirk || v.seed !== head.seed || v.shard.n !== head.shard.n || v.runs !== head.runs)
    )
      throw new ExploreError(
        `${join(dir, f)} is of another campaign than ${head.scenario}/${head.quirk ?? '-'} seed ${head.seed} in ${head.shard.n} shards`,
      );
    if (shards.some((s) => s.shard.k === v.shard.k))
      throw new ExploreError(`${join(dir, f)}: shard ${v.shard.k}/${v.shard.n} is there twice`);
    shards.push(v);
  }
  if (!shards.length) throw new ExploreError(`no shard result files (${SHARD_FORMAT}) in '${dir}'`);
  const n = shards[0].shard.n;
  const present = shards.map((s) => s.shard.k).sort((a, b) => a - b);
  let found: Merged['found'] = null;
  for (const s of shards) if (s.found && (!found || s.found.index < found.index)) found = s.found;
  return {
    scenario: shards[0].scenario,
    quirk: shards[0].quirk,
    seed: shards[0].seed,
    n,
    shards: present,
    missing: Array.from({ length: n }, (_x, k) => k).filter((k) => !present.includes(k)),
    schedules: shards.reduce((a, s) => a + s.schedules, 0),
    seconds: Math.max(...shards.map((s) => s.seconds)),
    indices: shards.flatMap((s) => s.indices).sort((a, b) => a - b),
    outcomes: new Set(shards.flatMap((s) => s.outcomes)).size,
    found,
  };
}
