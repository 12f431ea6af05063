// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The rules of the per-task consistency model, apart from guest memory: which function a task
 * must not be inside (klp_check_stack_func), what keeps a task from switching now
 * (klp_try_switch_task, klp_check_stack), the order of a pass over the tasks and what happens
 * to each cpu's idle task (klp_try_complete_transition), and when the fake signals go out.
 * They see tasks, stacks and cpus only through the small interfaces below: KlpTransition
 * implements them over the guest (the task views and the ORC unwinder), the fast tests over a
 * fake task list, so each rule can be checked in isolation and a broken one is noticed.
 */
import { EADDRINUSE, EINVAL } from '../elf/index.ts';
import { KLP_UNPATCHED } from './structs.ts';

/** klp_try_complete_transition() sends fake signals every this many tries. */
export const SIGNALS_TIMEOUT = 15;
export const MAX_STACK_ENTRIES = 100;

/** What klp_check_stack_func() reads of a func: where its old and new code are. */
export interface KlpFuncCode {
  readonly oldFunc: bigint;
  readonly oldSize: number;
  readonly newFunc: bigint;
  readonly newSize: number;
}

/**
 * The range a task must not be inside for func to switch it (klp_check_stack_func's).
 * Unpatching, the task leaves func's new code. Patching, it leaves what the handler gave it
 * before: `prev`, the next older func on the function's func_stack, or the original function
 * when func is alone there.
 */
export function forbiddenRange(target: number, func: KlpFuncCode, prev: KlpFuncCode | undefined): [bigint, bigint] {
  if (target === KLP_UNPATCHED) return [func.newFunc, BigInt(func.newSize)];
  if (!prev) return [func.oldFunc, BigInt(func.oldSize)];
  return [prev.newFunc, BigInt(prev.newSize)];
}

/**
 * The forbidden ranges of every func of the transition patch's patched objects, in their
 * order, as the unwinder's offsets [lo, hi) with the name of the func each belongs to, and
 * their hull. With every vCPU stopped nothing can change them, so a pass works them out once
 * rather than once per task, and a stack with no return address inside the hull needs no look
 * at each range.
 */
export class ForbiddenRanges {
  readonly names: string[] = [];
  readonly lo: number[] = [];
  readonly hi: number[] = [];
  min = Infinity;
  max = -Infinity;

  /** NaN for lo (an address not in RAM): no return address can be there, and the comparisons say so. */
  add(name: string, lo: number, hi: number): void {
    this.names.push(name);
    this.lo.push(lo);
    this.hi.push(hi);
    if (lo < this.min) this.min = lo;
    if (hi > this.max) this.max = hi;
  }
}

/** Where a task's reliable stack trace comes from (the ORC unwinder in the lab). */
export interface KlpStackReader<T> {
  /**
   * Unwinds t's stack: the number of return addresses now in `entries` (as offsets comparable
   * with the forbidden ranges), or -1 when the trace cannot be trusted.
   */
  reliableStack(t: T): number;
  readonly entries: ArrayLike<number>;
}

/** What the rules read of a task. */
export interface KlpSwitchTask {
  readonly address: bigint;
  readonly patchState: number;
  /** The cpu the task is current on, or -1. */
  currentOn(): number;
}

const STACK_OK = { ret: 0 };

/**
 * klp_check_stack(): 0, -EINVAL (unreliable) or -EADDRINUSE with the name of the func whose
 * range holds a return address. Every task of a pass comes here, so the entries are compared
 * as numbers where the unwinder left them, not copied out.
 */
export function checkStack<T>(stacks: KlpStackReader<T>, task: T, ranges: ForbiddenRanges): { ret: number; oldName?: string } {
  const n = stacks.reliableStack(task);
  if (n < 0) return { ret: -EINVAL };
  const entries = stacks.entries;
  let inHull = false;
  for (let i = 0; i < n; i++) if (entries[i] >= ranges.min && entries[i] < ranges.max) inHull = true;
  if (!inHull) return STACK_OK;
  for (let f = 0; f < ranges.names.length; f++) {
    const lo = ranges.lo[f];
    const hi = ranges.hi[f];
    for (let i = 0; i < n; i++) if (entries[i] >= lo && entries[i] < hi) return { ret: -EADDRINUSE, oldName: ranges.names[f] };
  }
  return STACK_OK;
}

/** What stops a task from switching now, as klp_try_switch_task() would find it. */
export type SwitchVerdict =
  | { ok: true }
  | { ok: false; why: 'running' | 'unreliable stack' | 'no reliable stacktrace' }
  | { ok: false; why: 'sleeping on function'; func: string };

const SWITCH_OK: SwitchVerdict = { ok: true };

/**
 * The check of klp_try_switch_task() without its effects, for a task not at the target state
 * yet. `current` is the task the host call came from: it may check its own stack (it is
 * stopped in the host call); any other task current on a cpu is running and cannot be checked.
 */
export function switchVerdict<T extends KlpSwitchTask>(
  task: T,
  current: KlpSwitchTask | null,
  haveReliableStack: boolean,
  stacks: KlpStackReader<T>,
  ranges: ForbiddenRanges,
): SwitchVerdict {
  // without reliable stacks the check cannot be trusted: only the switch points remain (the
  // warning was given once, at enable: ac59a471)
  if (!haveReliableStack) return { ok: false, why: 'no reliable stacktrace' };
  if (task.currentOn() >= 0 && task.address !== current?.address) return { ok: false, why: 'running' };
  const { ret, oldName } = checkStack(stacks, task, ranges);
  if (ret === -EINVAL) return { ok: false, why: 'unreliable stack' };
  if (ret === -EADDRINUSE) return { ok: false, why: 'sleeping on function', func: oldName! };
  return SWITCH_OK;
}

/** The tasks and cpus a pass walks. */
export interface KlpTaskWalk<T> {
  readonly nrCpus: number;
  /** for_each_process_thread(): every task but the idle tasks. */
  threads(): Iterable<T>;
  idleTask(cpu: number): T;
  cpuOnline(cpu: number): boolean;
}

/** What a pass does to a task or cpu. */
export interface KlpPassActions<T> {
  /** klp_try_switch_task(): whether t is at the target state now. */
  trySwitchTask(t: T): boolean;
  /** Switch t without a look at its stack (pending flag off, state the target). */
  switchTask(t: T): void;
  /** wake_up_if_idle() */
  wakeUpIfIdle(cpu: number): void;
}

/**
 * The walk of klp_try_complete_transition(): every thread is tried, none skipped after a
 * failure (each is reported); then each cpu's idle task: an online cpu's is tried and, if it
 * cannot switch, its cpu is woken to pass the idle loop's switch point; an offline cpu's cannot
 * run any function, so it switches as it is. Whether every task is at the target now.
 */
export function tryCompletePass<T extends KlpSwitchTask>(walk: KlpTaskWalk<T>, target: number, act: KlpPassActions<T>): boolean {
  let complete = true;
  for (const t of walk.threads()) if (!act.trySwitchTask(t)) complete = false;
  for (let c = 0; c < walk.nrCpus; c++) {
    const idle = walk.idleTask(c);
    if (walk.cpuOnline(c)) {
      if (!act.trySwitchTask(idle)) {
        complete = false;
        act.wakeUpIfIdle(c);
      }
    } else if (idle.patchState !== target) act.switchTask(idle);
  }
  return complete;
}

/**
 * Whether this pass, which leaves tasks behind, sends the fake signals: every SIGNALS_TIMEOUT
 * passes counted since the transition started, never on the first.
 */
export function signalsDue(signalsCnt: number): boolean {
  return signalsCnt !== 0 && signalsCnt % SIGNALS_TIMEOUT === 0;
}
