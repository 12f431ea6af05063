// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The per-task consistency model (kernel/livepatch/transition.c). A transition moves every task
 * from one patch state to the other, each at a moment when it provably runs no function the
 * patch changes: when its stack, unwound reliably with ORC, holds no such function (checked by
 * the host with every vCPU stopped), or at a switch point the task passes itself (return to
 * user mode, the idle loop, cond_resched()). Until every task has switched, the transition is
 * retried every emulated second, with fake signals to the stragglers after 15 tries.
 *
 * Host tasks (generators) run in khostd, so the guest code they need -- callbacks, waking a
 * task, a grace period -- runs as guest code in task context.
 */
import { callGuest, type HostTask, allTasks, cpuOnline, idleTask, type Task } from '../kernel/index.ts';
import { orcUnwinder, RELIABLE } from '../orc/index.ts';
import { KLP_PATCHED, KLP_UNDEFINED, KLP_UNPATCHED, type KlpFunc, type KlpPatch } from './structs.ts';
import { klpDebugSite, prDebug, prNotice, prWarn, warnOn } from './log.ts';

// the pr_debug sites of kernel/livepatch/transition.c (dynamic debug, off by default)
const site = (func: string, format: string) => klpDebugSite(import.meta.url, 'transition.c', func, format);
const DBG_INIT = site('klp_init_transition', "'%s': initializing %s transition\n");
const DBG_RUNNING = site('klp_try_switch_task', '%s: %s:%d is running\n');
const DBG_UNRELIABLE = site('klp_try_switch_task', '%s: %s:%d has an unreliable stack\n');
const DBG_SLEEPING = site('klp_try_switch_task', '%s: %s:%d is sleeping on function %s\n');
const DBG_COMPLETE = site('klp_complete_transition', "'%s': completing %s transition\n");
const DBG_CANCEL = site('klp_cancel_transition', "'%s': canceling patching transition, going to unpatch\n");
const DBG_REVERSE = site('klp_reverse_transition', "'%s': reversing transition from %s\n");
import type { Livepatch } from './core.ts';

/** klp_try_complete_transition() sends fake signals every this many tries. */
export const SIGNALS_TIMEOUT = 15;
export const MAX_STACK_ENTRIES = 100;
const EINVAL = 22;
const EADDRINUSE = 98;

const stateName = (s: number) => (s === KLP_PATCHED ? 'patching' : 'unpatching');

/** Every task, idle tasks included (for_each_process_thread + each cpu's idle task). */
function tasks(lp: Livepatch): { threads: Task[]; idle: Task[] } {
  const k = lp.k;
  const all = allTasks(k);
  return { threads: all.slice(k.nrCpus), idle: all.slice(0, k.nrCpus) };
}

/** The task list may only be walked with tasklist_lock free: a stopped vCPU may hold it. */
export function* tasklistLock(lp: Livepatch): HostTask<void> {
  const lock = lp.k.sym('tasklist_lock') + BigInt(lp.k.layout.value('spinlock_t.locked'));
  while (lp.k.mem.u32(lock) !== 0) yield* callGuest(lp.k.sym('lab_tasklist_barrier'));
}

/** klp_synchronize_transition(): every cpu passes a quiescent state (kernel/rcu.c in the guest). */
export function* synchronizeTransition(lp: Livepatch): HostTask<void> {
  yield* callGuest(lp.k.sym('synchronize_rcu'));
}

/** klp_init_transition(). */
export function* initTransition(lp: Livepatch, patch: KlpPatch, state: number): HostTask<void> {
  const k = lp.k;
  warnOn(k, lp.transitionPatch !== null, 'a transition is already in progress');
  lp.transitionPatch = patch;
  // the target before any task can see a pending flag (klp_update_patch_state reads it)
  lp.setTargetState(state);
  prDebug(k, DBG_INIT, `'${patch.name}': initializing ${stateName(state)} transition`);
  // every task starts in the opposite state: the handler then runs what it ran before
  const initial = state === KLP_PATCHED ? KLP_UNPATCHED : KLP_PATCHED;
  yield* tasklistLock(lp);
  const { threads, idle } = tasks(lp);
  for (const t of [...threads, ...idle]) {
    warnOn(k, t.patchState !== KLP_UNDEFINED, `${t} already has a patch state`);
    lp.setPatchState(t, initial);
  }
  // func->transition only after every task has a state: the handler reads them in that order
  for (const obj of patch.objs) for (const func of obj.funcs) func.transition = true;
}

/** klp_start_transition(): mark every task that has to switch. */
export function* startTransition(lp: Livepatch): HostTask<void> {
  const k = lp.k;
  const patch = lp.transitionPatch!;
  warnOn(k, lp.targetState === KLP_UNDEFINED, 'no target state');
  prNotice(k, `'${patch.name}': starting ${stateName(lp.targetState)} transition`);
  yield* tasklistLock(lp);
  const { threads, idle } = tasks(lp);
  for (const t of [...threads, ...idle]) if (t.patchState !== lp.targetState) lp.setPending(t, true);
  lp.setCondReschedEnabled(true);
  lp.signalsCnt = 0;
}

/** The range a task must not be inside for func to switch it (klp_check_stack_func's). */
function forbiddenRange(lp: Livepatch, func: KlpFunc): [bigint, bigint] {
  if (lp.targetState === KLP_UNPATCHED) return [func.newFunc, BigInt(func.newSize)];
  const ops = lp.patcher.findOps(func.oldFunc);
  if (!ops || ops.funcStack.length <= 1) return [func.oldFunc, BigInt(func.oldSize)];
  // the function the task would stop running: the previous patch's version
  const prev = lp.patcher.nextOlder(func)!;
  return [prev.newFunc, BigInt(prev.newSize)];
}

/**
 * The forbidden ranges of every func of the transition patch's patched objects, in their
 * order, as RAM offsets [lo, hi) (the unwinder's unit), and their hull. With every vCPU
 * stopped nothing can change them, so a pass works them out once rather than once per task,
 * and a stack with no return address inside the hull needs no look at each range.
 */
export interface ForbiddenRanges {
  funcs: KlpFunc[];
  lo: number[];
  hi: number[];
  min: number;
  max: number;
}

function forbiddenRanges(lp: Livepatch): ForbiddenRanges {
  const u = orcUnwinder(lp.k);
  const r: ForbiddenRanges = { funcs: [], lo: [], hi: [], min: Infinity, max: -Infinity };
  for (const obj of lp.transitionPatch!.objs) {
    if (!obj.patched) continue;
    for (const func of obj.funcs) {
      const [addr, size] = forbiddenRange(lp, func);
      // NaN when not in RAM: no return address can be there, and the comparisons say so
      const lo = u.offset(addr);
      const hi = lo + Number(size);
      r.funcs.push(func);
      r.lo.push(lo);
      r.hi.push(hi);
      if (lo < r.min) r.min = lo;
      if (hi > r.max) r.max = hi;
    }
  }
  return r;
}

const STACK_OK = { ret: 0 };

/**
 * klp_check_stack(): 0, -EINVAL (unreliable) or -EADDRINUSE with the function's name. Every
 * task of a pass comes here, so the trace is not copied out as bigints (as
 * stackTraceSaveTskReliable() would): its return addresses go as RAM offsets into the buffer of
 * the cpu doing the check, and are compared as numbers.
 */
function checkStack(lp: Livepatch, task: Task, cpu: number, ranges: ForbiddenRanges): { ret: number; oldName?: string } {
  const u = orcUnwinder(lp.k);
  const off = u.offset(task.address);
  if (u.unwindTask(off, MAX_STACK_ENTRIES, undefined, u.runningOn(off)) !== RELIABLE) return { ret: -EINVAL };
  const n = u.count;
  const entries = lp.stackEntries(cpu);
  entries.set(u.entries.subarray(0, n));
  let inHull = false;
  for (let i = 0; i < n; i++) if (entries[i] >= ranges.min && entries[i] < ranges.max) inHull = true;
  if (!inHull) return STACK_OK;
  for (let f = 0; f < ranges.funcs.length; f++) {
    const lo = ranges.lo[f];
    const hi = ranges.hi[f];
    for (let i = 0; i < n; i++) if (entries[i] >= lo && entries[i] < hi) return { ret: -EADDRINUSE, oldName: ranges.funcs[f].oldName };
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
 * yet. `current` is the task the host
 * call came from: it may check its own stack (it is stopped in the host call); any other task
 * current on a vCPU is running and cannot be checked. `cpu` picks the stack entry buffer.
 */
export function switchVerdict(lp: Livepatch, task: Task, current: Task | null, cpu: number, ranges?: ForbiddenRanges): SwitchVerdict {
  // without reliable stacks the check cannot be trusted: only the switch points remain (the
  // warning was given once, at enable: ac59a471)
  if (!lp.haveReliableStack) return { ok: false, why: 'no reliable stacktrace' };
  if (task.currentOn() >= 0 && task.address !== current?.address) return { ok: false, why: 'running' };
  const { ret, oldName } = checkStack(lp, task, cpu, ranges ?? forbiddenRanges(lp));
  if (ret === -EINVAL) return { ok: false, why: 'unreliable stack' };
  if (ret === -EADDRINUSE) return { ok: false, why: 'sleeping on function', func: oldName! };
  return SWITCH_OK;
}

/** klp_try_switch_task(): switch one task if it is provably safe (see switchVerdict). */
export function trySwitchTask(lp: Livepatch, task: Task, current: Task | null, cpu: number, ranges?: ForbiddenRanges): boolean {
  if (task.patchState === lp.targetState) return true;
  const v = switchVerdict(lp, task, current, cpu, ranges);
  if (v.ok) {
    lp.setPending(task, false);
    lp.setPatchState(task, lp.targetState);
    return true;
  }
  const who = `klp_try_switch_task: ${task.comm}:${task.pid}`;
  if (v.why === 'running') prDebug(lp.k, DBG_RUNNING, `${who} is running`);
  else if (v.why === 'unreliable stack') prDebug(lp.k, DBG_UNRELIABLE, `${who} has an unreliable stack`);
  else if (v.why === 'sleeping on function') prDebug(lp.k, DBG_SLEEPING, `${who} is sleeping on function ${v.func}`);
  return false;
}

/**
 * klp_send_signals(): kick the tasks that still have to switch. The walk runs in the guest
 * under tasklist_lock (klp_send_signals in firmware/kernel/livepatch.c): waking a task runs
 * guest code, and with it the other vCPUs, so a list read once here could hold tasks that
 * exit and are freed before their turn.
 */
export function* sendSignals(lp: Livepatch): HostTask<void> {
  if (lp.signalsCnt === SIGNALS_TIMEOUT) prNotice(lp.k, 'signaling remaining tasks');
  yield* callGuest(lp.k.sym('klp_send_signals'));
}

/**
 * klp_try_complete_transition(): try to switch every remaining task; complete the transition
 * if all have switched, else try again in an emulated second. `current` is the calling task.
 */
export function* tryCompleteTransition(lp: Livepatch, current: Task | null, cpu: number): HostTask<boolean> {
  const k = lp.k;
  warnOn(k, lp.targetState === KLP_UNDEFINED, 'no target state');
  let complete = true;
  yield* tasklistLock(lp);
  const { threads } = tasks(lp);
  const ranges = forbiddenRanges(lp);
  for (const t of threads) if (!trySwitchTask(lp, t, current, cpu, ranges)) complete = false;
  // idle tasks: online ones switch in their loop (woken if needed), offline ones cannot run
  for (let c = 0; c < k.nrCpus; c++) {
    const idle = idleTask(k, c);
    if (cpuOnline(k, c)) {
      if (!trySwitchTask(lp, idle, current, cpu, ranges)) {
        complete = false;
        lp.wakeUpIfIdle(c);
      }
    } else if (idle.patchState !== lp.targetState) {
      lp.setPending(idle, false);
      lp.setPatchState(idle, lp.targetState);
    }
  }
  if (!complete) {
    if (lp.signalsCnt && !(lp.signalsCnt % SIGNALS_TIMEOUT)) yield* sendSignals(lp);
    lp.signalsCnt++;
    lp.scheduleTransitionWork();
    return false;
  }
  // done: cond_resched() stops looking, then the structures are cleaned up
  lp.setCondReschedEnabled(false);
  const patch = lp.transitionPatch!;
  yield* completeTransition(lp);
  // a patch that was disabled is gone now; a replace patch has superseded the others
  if (!patch.enabled) lp.freePatch(patch);
  else if (patch.replace) lp.freeReplaced(patch);
  return true;
}

/** klp_complete_transition(). */
export function* completeTransition(lp: Livepatch): HostTask<void> {
  const k = lp.k;
  const patch = lp.transitionPatch!;
  prDebug(k, DBG_COMPLETE, `'${patch.name}': completing ${stateName(lp.targetState)} transition`);
  if (patch.replace && lp.targetState === KLP_PATCHED) {
    lp.unpatchReplacedPatches(patch);
    lp.discardNops(patch);
  }
  if (lp.targetState === KLP_UNPATCHED) {
    // all tasks run the old code: drop the funcs, then wait until no handler can see them
    lp.patcher.unpatchObjects(patch);
    yield* synchronizeTransition(lp);
  }
  for (const obj of patch.objs) for (const func of obj.funcs) func.transition = false;
  // no handler may still see func->transition set when the tasks lose their state
  if (lp.targetState === KLP_PATCHED) yield* synchronizeTransition(lp);
  yield* tasklistLock(lp);
  const { threads, idle } = tasks(lp);
  for (const t of [...threads, ...idle]) {
    warnOn(k, t.testTifFlag('TIF_PATCH_PENDING'), `${t} still has TIF_PATCH_PENDING`);
    lp.setPatchState(t, KLP_UNDEFINED);
  }
  for (const obj of patch.objs) {
    if (!obj.loaded) continue;
    if (lp.targetState === KLP_PATCHED) yield* lp.postPatchCallback(obj);
    else if (lp.targetState === KLP_UNPATCHED) yield* lp.postUnpatchCallback(obj);
  }
  prNotice(k, `'${patch.name}': ${stateName(lp.targetState)} complete`);
  lp.setTargetState(KLP_UNDEFINED);
  lp.transitionPatch = null;
}

/** klp_cancel_transition(): a failure before the transition started. */
export function* cancelTransition(lp: Livepatch): HostTask<void> {
  const k = lp.k;
  if (warnOn(k, lp.targetState !== KLP_PATCHED, 'cancel of an unpatching transition')) return;
  prDebug(k, DBG_CANCEL, `'${lp.transitionPatch!.name}': canceling patching transition, going to unpatch`);
  lp.setTargetState(KLP_UNPATCHED);
  yield* completeTransition(lp);
}

/** klp_reverse_transition(): the transitioning patch was enabled or disabled again. */
export function* reverseTransition(lp: Livepatch): HostTask<void> {
  const k = lp.k;
  const patch = lp.transitionPatch!;
  prDebug(
    k,
    DBG_REVERSE,
    `'${patch.name}': reversing transition from ${lp.targetState === KLP_PATCHED ? 'patching to unpatching' : 'unpatching to patching'}`,
  );
  // no switch point may apply the old target once the new one is set: clear every pending
  // flag, and let the switch points already running finish
  yield* tasklistLock(lp);
  const { threads, idle } = tasks(lp);
  for (const t of [...threads, ...idle]) lp.setPending(t, false);
  yield* synchronizeTransition(lp);
  patch.enabled = !patch.enabled;
  lp.setTargetState(lp.targetState === KLP_PATCHED ? KLP_UNPATCHED : KLP_PATCHED);
  yield* startTransition(lp);
}

/** klp_force_transition(): switch every remaining task now, whatever its stack. */
export function* forceTransition(lp: Livepatch): HostTask<void> {
  const k = lp.k;
  prWarn(k, 'forcing remaining tasks to the patched state');
  yield* tasklistLock(lp);
  const { threads, idle } = tasks(lp);
  for (const t of [...threads, ...idle]) {
    if (!t.testTifFlag('TIF_PATCH_PENDING')) continue;
    lp.setPending(t, false);
    lp.setPatchState(t, lp.targetState);
  }
  // code of a forced patch may still run somewhere: its module can never be removed
  if (lp.targetState === KLP_UNPATCHED) lp.transitionPatch!.forced = true;
  else if (lp.transitionPatch!.replace) for (const p of lp.patches) if (p !== lp.transitionPatch) p.forced = true;
}
