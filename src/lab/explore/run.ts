// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One run: a scenario under one schedule, watched by a checker. The lab boots with the
 * schedule's seed, quantum and preemption model, the checker is attached, the scenario's steps
 * kept by the schedule run while the schedule's events are injected at their emulated times,
 * and the run ends at the first violation the checker reports (it is asked between steps and
 * every few emulated milliseconds while the lab waits), at a transition still running when a
 * wait: step's bound is over (a stall), at a step the kernel refuses, or after
 * the last step once no transition is left. Same scenario, schedule and checker: the same log,
 * bit for bit, and its digest says so.
 */
import { createHash } from 'node:crypto';
import { cpuCurr, KernelOops, KernelPanic, LogOverrunError } from '../../kernel/index.ts';
import { Lab } from '../selftest.ts';
import { parseStep, runStep, StepFailure, type Step } from '../steps.ts';
import type { Scenario } from '../scenario.ts';
import type { CheckerFactory, Violation } from '../violation.ts';
import { injectEvents, placeSignals } from './inject.ts';
import { armStall } from './stall.ts';
import type { Schedule } from './schedule.ts';

/** How long a run lets a transition left behind by its steps settle before the final checks. */
const SETTLE_MS = 10_000;
/** How long a run goes on after the end of a stall still in progress at its last step. */
const STALL_AFTER_MS = 20;

export interface RunOutcome {
  violation?: Violation;
  /** sha256 of the whole kernel log at the end of the run. */
  digest: string;
  /** Emulated ns from the first step to the end. */
  emulatedNs: number;
  /** Steps that ran to their end. */
  stepsDone: number;
  /** The step the kernel refused, if one was, with its reason. */
  failedStep?: string;
  /**
   * How the run went, as a short hash of its transitions' course (started, reversed,
   * completed, stalled) and of how it ended: the explorer counts distinct ones as coverage.
   */
  outcome: string;
  hostMs: number;
}

export interface RunOptions {
  /** Folders modprobe looks in before fixtures/. */
  modulePath?: readonly string[];
  /** Sees the lab once the run is over, before it is closed (a replay's trace or report). */
  atEnd?: (lab: Lab) => void;
  /**
   * Drives the run: by default the lab is booted and the run made on it once; a debugger's stub
   * may boot and run it again and again, each time the same (src/gdb's serveGdb).
   */
  drive?: (boot: () => Promise<Lab>, run: (lab: Lab) => RunOutcome) => Promise<{ lab: Lab; result: RunOutcome }>;
}

async function bootAndRun(boot: () => Promise<Lab>, run: (lab: Lab) => RunOutcome): Promise<{ lab: Lab; result: RunOutcome }> {
  const lab = await boot();
  try {
    return { lab, result: run(lab) };
  } catch (e) {
    lab.close();
    throw e;
  }
}

/** The lines of the log that tell how the transitions went, for RunOutcome.outcome. */
const COURSE =
  /livepatch: (enabling patch|disabling patch|'[^']+': (starting|reversing|completing|patching complete|unpatching complete))|still in transition|refused/;

function courseOf(lab: Lab, from: number, end: string): string {
  const course: string[] = [];
  let started = 0;
  let events;
  try {
    events = lab.k.log.since(from);
  } catch (e) {
    // a run long enough to drop its first entries: its outcome is what the log still holds
    if (!(e instanceof LogOverrunError)) throw e;
    events = lab.k.log.events;
  }
  for (const e of events) {
    if (e.type !== 'printk' || !COURSE.test(e.text)) continue;
    const line = e.text.replace(/\[[^\]]*\]\s*/, '').replace(/\d+/g, 'N');
    if (/: starting |enabling patch|disabling patch|: reversing /.test(e.text)) started = e.tsNs;
    // how long the transition took, in powers of two of 100 emulated ms: a fast and a slow
    // completion are different outcomes, two nearly equal ones the same
    const took = /: completing |patching complete$/.test(e.text)
      ? ` after ~${2 ** Math.round(Math.log2(Math.max(1, (e.tsNs - started) / 1e8)))}00ms`
      : '';
    course.push(line + took);
  }
  return createHash('sha256')
    .update([...course, end].join('\n'))
    .digest('hex')
    .slice(0, 12);
}

/** The scenario's steps a schedule keeps, run: steps shortened as it says. */
export function scheduledSteps(scenario: Scenario, schedule: Schedule): Step[] {
  return schedule.steps.map((i) => {
    const step = parseStep(scenario.steps[i]);
    return step.verb === 'run' ? { ...step, ms: Math.round((step.ms * schedule.runPercent) / 100) } : step;
  });
}

export async function runSchedule(
  scenario: Scenario,
  schedule: Schedule,
  checker: CheckerFactory,
  opts: RunOptions = {},
): Promise<RunOutcome> {
  const t0 = performance.now();
  const steps = scheduledSteps(scenario, schedule);
  const boot = () =>
    Lab.boot({
      ...scenario.boot,
      seed: BigInt(schedule.seed),
      quantum: schedule.quantum,
      preempt: schedule.preempt,
      modulePath: opts.modulePath,
    });
  const { lab, result } = await (opts.drive ?? bootAndRun)(boot, (lab) => runOn(lab, steps, schedule, checker, t0));
  try {
    opts.atEnd?.(lab);
  } finally {
    try {
      opts.atEnd?.(lab);
    } finally {
      lab.close();
    }
  }
  return result;
}

/** The run itself on a booted lab: the steps, the injected events, the checker's verdict. */
function runOn(lab: Lab, steps: readonly Step[], schedule: Schedule, checker: CheckerFactory, t0: number): RunOutcome {
  const from = lab.k.log.cursor();
  const start = lab.k.machine.clockNs;
  const watch = checker(lab);
  let violation: Violation | undefined;
  let failedStep: string | undefined;
  let stepsDone = 0;
  let end = 'done';
  const poll = () => (violation ??= watch.poll()) !== undefined;
  const inject = injectEvents(lab, schedule.events, start, poll);
  if (schedule.stall) armStall(lab, schedule.stall, start);
  const unplace = schedule.signalsAtSyscall ? placeSignals(lab) : undefined;
  try {
    for (const step of steps) {
      inject.fireDue();
      if (poll()) break;
      try {
        runStep(lab, step);
      } catch (e) {
        if (!(e instanceof StepFailure)) throw e;
        if (poll()) break;
        // a transition the scenario waited for past its bound: a stall, not a refused step
        if (step.verb === 'wait' && lab.lp.transitionPatch && (violation = watch.stalled?.(step.ms))) break;
        failedStep = e.message;
        end = `failed ${step.verb}`;
        break;
      }
      stepsDone++;
      if (poll()) break;
    }
    if (!violation && lab.lp.transitionPatch) lab.advance({ ns: SETTLE_MS * 1e6, until: () => !lab.lp.transitionPatch });
    // a vCPU still held up goes on before the verdict: what it does once let go is part of the run
    const held = lab.k.machine.stallEndNs;
    if (!violation && held) lab.advance({ ns: held - lab.k.machine.clockNs + STALL_AFTER_MS * 1e6 });
    violation ??= watch.finish();
  } catch (e) {
    if (!(e instanceof KernelOops || e instanceof KernelPanic)) throw e;
    violation = watch.poll() ?? watch.finish();
    const curr = cpuCurr(lab.k, e instanceof KernelOops ? e.fault.cpu : e.cpu);
    violation ??= {
      kind: e instanceof KernelOops ? 'oops' : 'panic',
      message: `${e.message.split('\n')[0]}, in ${curr.comm} (pid ${curr.pid})`,
      tsNs: lab.k.machine.clockNs,
      tasks: [{ pid: curr.pid, comm: curr.comm }],
    };
  } finally {
    unplace?.();
    watch.detach();
  }
  if (violation) end = `violation ${violation.kind}`;
  return {
    ...(violation ? { violation } : {}),
    digest: lab.k.log.digest(),
    emulatedNs: lab.k.machine.clockNs - start,
    stepsDone,
    ...(failedStep ? { failedStep } : {}),
    outcome: courseOf(lab, from, end),
    hostMs: performance.now() - t0,
  };
}
