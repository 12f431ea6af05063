// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Shrinking a failing schedule to one a person can follow: no vCPU stall, fewer injected events,
 * fewer steps, shorter run: steps, the default quantum, no forced preemption. Each change is tried on a
 * fresh run and kept only if the same kind of violation still happens, so the result fails
 * for the same reason as the schedule it came from, and its own run (digest included) is the
 * one a replay file records.
 */
import type { Scenario } from '../scenario.ts';
import type { CheckerFactory } from '../violation.ts';
import { runSchedule, type RunOptions, type RunOutcome } from './run.ts';
import type { Schedule } from './schedule.ts';

export interface Shrunk {
  schedule: Schedule;
  outcome: RunOutcome;
  /** Runs tried, and how many of the changes were kept. */
  tries: number;
  kept: number;
}

/** The machine's default quantum: a schedule with it has one thing fewer to explain. */
const DEFAULT_QUANTUM = 5000;

/**
 * Shrinks `schedule`, whose run `outcome` had a violation, trying changes for at most
 * `budgetMs` of host time (the schedule found so far is kept when it runs out).
 */
export async function shrinkSchedule(
  scenario: Scenario,
  schedule: Schedule,
  outcome: RunOutcome,
  checker: CheckerFactory,
  opts: RunOptions & { budgetMs?: number } = {},
): Promise<Shrunk> {
  const kind = outcome.violation!.kind;
  const deadline = performance.now() + (opts.budgetMs ?? 60_000);
  let best = { schedule, outcome };
  let tries = 0;
  let kept = 0;
  const attempt = async (candidate: Schedule): Promise<boolean> => {
    if (performance.now() > deadline) return false;
    tries++;
    const o = await runSchedule(scenario, candidate, checker, opts);
    if (o.violation?.kind !== kind) return false;
    best = { schedule: candidate, outcome: o };
    kept++;
    return true;
  };
  // a vCPU held up: the violation may not need it (a stall cannot be shortened here: its end
  // is what lets the held vCPU see a changed state)
  if (best.schedule.stall) {
    const { stall: _dropped, ...rest } = best.schedule;
    await attempt(rest);
  }
  // events, latest first: a later event cannot matter to a violation seen before it
  for (let i = best.schedule.events.length - 1; i >= 0; i--) {
    const events = best.schedule.events.filter((_e, j) => j !== i);
    await attempt({ ...best.schedule, events });
  }
  // steps, last first
  for (let i = best.schedule.steps.length - 1; i >= 0; i--) {
    if (best.schedule.steps.length === 1) break;
    const steps = best.schedule.steps.filter((_s, j) => j !== i);
    await attempt({ ...best.schedule, steps });
  }
  // shorter run: steps, halving while the violation stays
  const runs = best.schedule.steps.some((i) => scenario.steps[i].startsWith('run:'));
  for (let pct = Math.floor(best.schedule.runPercent / 2); runs && pct >= 1; pct = Math.floor(pct / 2))
    if (!(await attempt({ ...best.schedule, runPercent: pct }))) break;
  if (best.schedule.signalsAtSyscall) {
    const { signalsAtSyscall: _dropped, ...plain } = best.schedule;
    await attempt(plain);
  }
  if (best.schedule.quantum !== DEFAULT_QUANTUM) await attempt({ ...best.schedule, quantum: DEFAULT_QUANTUM });
  if (best.schedule.preempt === 'full' && scenario.boot.preempt === undefined) await attempt({ ...best.schedule, preempt: 'none' });
  return { ...best, tries, kept };
}
