// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replay files: what a found violation needs to happen again, bit for bit -- the scenario
 * (with its boot quirks), the schedule (shrunk), the violation as it was seen and the digest of
 * the run's kernel log -- as one JSON file. `klp-lab replay FILE` runs the scenario under the
 * schedule again and compares the digest: the same digest is the same run, event for event.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Scenario } from '../scenario.ts';
import type { CheckerFactory, Violation } from '../violation.ts';
import { runSchedule, type RunOptions, type RunOutcome } from './run.ts';
import { checkBoot, checkScenario, ExploreError } from './scenarios.ts';
import { EVENT_KINDS, PREEMPTION_POINTS, type Schedule } from './schedule.ts';

export const REPLAY_FORMAT = 'klp-lab-replay/1';

export interface ReplayFile {
  format: typeof REPLAY_FORMAT;
  scenario: Scenario;
  /** The quirk explored, by its short name, if one was. */
  quirk: string | null;
  /** Where the schedule came from: campaign seed and index, before shrinking. */
  campaign: { seed: string; index: number };
  schedule: Schedule;
  /** The schedule as generated, when shrinking changed it. */
  original?: Schedule;
  violation: Violation;
  /** sha256 of the run's kernel log. */
  digest: string;
  emulatedNs: number;
}

export function writeReplay(file: string, replay: ReplayFile): void {
  writeFileSync(file, JSON.stringify(replay, null, 2) + '\n');
}

function checkSchedule(v: unknown, where: string): Schedule {
  const bad = (what: string) => new ExploreError(`${where}: ${what}`);
  if (typeof v !== 'object' || v === null) throw bad("'schedule' must be an object");
  const s = v as Record<string, unknown>;
  const int = (k: string, min = 0) => Number.isInteger(s[k]) && (s[k] as number) >= min;
  if (!int('index') || typeof s.seed !== 'string' || !/^\d+$/.test(s.seed) || !int('quantum', 1) || !int('runPercent'))
    throw bad("'schedule' needs index, seed (decimal string), quantum and runPercent");
  if (s.preempt !== 'none' && s.preempt !== 'full') throw bad("'schedule.preempt' must be none or full");
  if (!Array.isArray(s.steps) || !s.steps.every((i) => Number.isInteger(i) && i >= 0)) throw bad("'schedule.steps' must list step indices");
  if (
    !Array.isArray(s.events) ||
    !s.events.every(
      (e: Record<string, unknown>) =>
        typeof e === 'object' && EVENT_KINDS.includes(e.kind as never) && Number.isInteger(e.atMs) && Number.isInteger(e.pick),
    )
  )
    throw bad(`'schedule.events' must be a list of {atMs, kind, pick}, kind one of ${EVENT_KINDS.join(', ')}`);
  if (s.stall !== undefined) {
    const st = s.stall as Record<string, unknown>;
    const ok =
      typeof st === 'object' &&
      st !== null &&
      PREEMPTION_POINTS.includes(st.fn as string) &&
      ['atMs', 'cpu', 'insn', 'nth', 'ms'].every((k) => Number.isInteger(st[k]) && (st[k] as number) >= (k === 'nth' ? 1 : 0));
    if (!ok) throw bad(`'schedule.stall' must be {atMs, cpu, fn, insn, nth >= 1, ms}, fn one of ${PREEMPTION_POINTS.join(', ')}`);
  }
  if (s.signalsAtSyscall !== undefined && s.signalsAtSyscall !== true) throw bad("'schedule.signalsAtSyscall' must be true when present");
  return s as unknown as Schedule;
}

/** Reads and checks a replay file; ExploreError names the file and what is wrong with it. */
export function readReplay(file: string): ReplayFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ExploreError(`cannot read replay file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ExploreError(`replay file '${file}' is not JSON: ${(e as Error).message}`);
  }
  const where = `replay file '${file}'`;
  if (typeof v !== 'object' || v === null || v.format !== REPLAY_FORMAT)
    throw new ExploreError(`${where}: not a replay file (format '${REPLAY_FORMAT}')`);
  const scenario = checkScenario(v.scenario, `${where}: scenario`);
  checkBoot(scenario, `${where}: scenario`);
  const schedule = checkSchedule(v.schedule, where);
  for (const i of schedule.steps)
    if (i >= scenario.steps.length) throw new ExploreError(`${where}: schedule step ${i} is past the scenario's steps`);
  const violation = v.violation as Violation | undefined;
  if (!violation || typeof violation.kind !== 'string') throw new ExploreError(`${where}: 'violation' must have a kind`);
  if (typeof v.digest !== 'string' || !/^[0-9a-f]{64}$/.test(v.digest))
    throw new ExploreError(`${where}: 'digest' must be a sha256 in hex`);
  return { ...(v as unknown as ReplayFile), scenario, schedule };
}

export interface Replayed {
  outcome: RunOutcome;
  /** The run's log is the recorded one, bit for bit. */
  sameDigest: boolean;
  /** The same kind of violation was seen. */
  sameViolation: boolean;
}

export async function replay(r: ReplayFile, checker: CheckerFactory, opts: RunOptions = {}): Promise<Replayed> {
  const outcome = await runSchedule(r.scenario, r.schedule, checker, opts);
  return { outcome, sameDigest: outcome.digest === r.digest, sameViolation: outcome.violation?.kind === r.violation.kind };
}
