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
import { callGuest, type HostTask, cpuCurr, cpuOnline, forEachTask, idleTask, type Kernel, type Task } from '../kernel/index.ts';
import { type OrcUnwinder, RELIABLE } from '../orc/index.ts';
import { KLP_PATCHED, KLP_UNDEFINED, KLP_UNPATCHED, type KlpObject, type KlpPatch } from './structs.ts';
import { klpDebugSite, prDebug, prNotice, prWarn, warnOn } from './log.ts';
import type { KlpPatcher } from './patch.ts';
import type { KlpQuirks } from './quirks.ts';
import { klpBlockedEvent, klpTaskEvent, type KlpTaskCause, klpTransitionEvent, type KlpPhase } from './events.ts';
import {
  ForbiddenRanges,
  forbiddenRange,
  type KlpStackReader,
  type KlpTaskWalk,
  MAX_STACK_ENTRIES,
  SIGNALS_TIMEOUT,
  signalsDue,
  switchVerdict,
  type SwitchVerdict,
  tryCompletePass,
} from './switch.ts';

export { type SwitchVerdict } from './switch.ts';

// the pr_debug sites of kernel/livepatch/transition.c (dynamic debug, off by default)
const site = (func: string, format: string) => klpDebugSite(import.meta.url, 'transition.c', func, format);
const DBG_INIT = site('klp_init_transition', "'%s': initializing %s transition\n");
const DBG_RUNNING = site('klp_try_switch_task', '%s: %s:%d is running\n');
const DBG_UNRELIABLE = site('klp_try_switch_task', '%s: %s:%d has an unreliable stack\n');
const DBG_SLEEPING = site('klp_try_switch_task', '%s: %s:%d is sleeping on function %s\n');
const DBG_COMPLETE = site('klp_complete_transition', "'%s': completing %s transition\n");
const DBG_CANCEL = site('klp_cancel_transition', "'%s': canceling patching transition, going to unpatch\n");
const DBG_REVERSE = site('klp_reverse_transition', "'%s': reversing transition from %s\n");

const stateName = (s: number) => (s === KLP_PATCHED ? 'patching' : 'unpatching');

/**
 * What the transition asks of the rest of the core (core.c's functions that transition.c
 * calls): the patch list, the patcher, the callbacks, and what becomes of patches once a
 * transition completes. The core implements it; the transition never sees the core's class.
 */
export interface KlpTransitionCore {
  readonly k: Kernel;
  readonly patcher: KlpPatcher;
  /** The reliable unwinder the stack checks use. */
  readonly unwinder: OrcUnwinder;
  /** klp_patches, oldest first. */
  readonly patches: readonly KlpPatch[];
  /** klp_have_reliable_stack() */
  readonly haveReliableStack: boolean;
  /** The fixes a boot quirk undoes (all false on a plain boot). */
  readonly quirks: KlpQuirks;
  /** The task host work runs as (khostd), if it is on a cpu: `current` of the retry work. */
  currentTask(): Task | null;
  postPatchCallback(obj: KlpObject): HostTask<void>;
  postUnpatchCallback(obj: KlpObject): HostTask<void>;
  unpatchReplacedPatches(patch: KlpPatch): void;
  discardNops(patch: KlpPatch): void;
  freePatch(patch: KlpPatch): void;
  freeReplaced(patch: KlpPatch): void;
}

/** A task's reliable stack trace, from the ORC unwinder, as the rules read it. */
class OrcStacks implements KlpStackReader<Task> {
  constructor(readonly unwinder: OrcUnwinder) {}

  get entries(): Uint32Array {
    return this.unwinder.entries;
  }

  /**
   * The trace is not copied out as bigints (as stackTraceSaveTskReliable() would): its return
   * addresses stay as RAM offsets where the unwinder left them. The kernel keeps a buffer per
   * cpu because cond_resched() checks run on several cpus at once; host checks run one at a time.
   */
  reliableStack(task: Task): number {
    const u = this.unwinder;
    const off = u.offset(task.address);
    return u.unwindTask(off, MAX_STACK_ENTRIES, undefined, u.runningOn(off)) === RELIABLE ? u.count : -1;
  }
}

/**
 * The state of kernel/livepatch/transition.c -- the patch in transition, the target state,
 * the count of tries for the fake signals, the delayed retry work -- and the functions that
 * own it. The core holds one and drives it through initTransition() and friends; everyone
 * else reads transitionPatch and targetState.
 */
export class KlpTransition {
  /** klp_transition_patch */
  private patch: KlpPatch | null = null;
  /** Where klp_target_state lives: the guest's variable is the only copy (klp_update_patch_state() reads it). */
  private readonly targetAt: bigint;
  /** klp_signals_cnt: passes that left tasks behind since the transition started. */
  private signalsCnt = 0;
  /** Passes of klp_try_complete_transition() since the transition was initialised (for the log). */
  private passes = 0;
  /** klp_transition_work: when it runs next (emulated ns), if scheduled, and whether queued. */
  private workDue: number | null = null;
  private workQueued = false;
  private readonly k: Kernel;
  /** Where patch_state and TIF_PATCH_PENDING live in a task_struct (every pass writes them for each task). */
  private readonly oPatchState: bigint;
  private readonly oFlags: bigint;
  private readonly pendingBit: bigint;
  /** The reliable stack traces the checks read: the core's unwinder. */
  private readonly stacks: OrcStacks;
  /** The tasks and cpus a pass walks, in the guest. */
  private readonly walk: KlpTaskWalk<Task>;
  /** Transitions forced so far: what a forced task runs is the user's call, not the model's. */
  forces = 0;
  /**
   * Rounds of fake signals since the transition (re)started: the tasks still pending after one
   * were each sent a fake signal (the consistency checker asks).
   */
  signalRounds = 0;
  /** Called with every vCPU stopped right after each round of fake signals (the checker's). */
  readonly afterSignals: Array<() => void> = [];
  /**
   * Between klp_start_transition() and the end of the transition (or a reversal): every task
   * off the target state is marked pending. Before, no task is; while the transition completes
   * or reverses, flags are cleared first.
   */
  started = false;
  private readonly quirks: KlpQuirks;
  /** klp_forced, before 68007289 made it a flag of each patch: some transition was forced. */
  private forcedOnce = false;

  constructor(private readonly core: KlpTransitionCore) {
    const k = (this.k = core.k);
    this.targetAt = k.sym('klp_target_state');
    this.oPatchState = BigInt(k.layout.offset('task_struct', 'patch_state'));
    this.oFlags = BigInt(k.layout.offset('task_struct', 'thread_info.flags'));
    this.pendingBit = 1n << BigInt(k.layout.constant('TIF_PATCH_PENDING'));
    k.machine.afterRound.push(() => this.transitionWorkTimer());
    this.stacks = new OrcStacks(core.unwinder);
    const quirks = (this.quirks = core.quirks);
    this.walk = {
      get nrCpus() {
        return k.nrCpus;
      },
      threads: () => forEachTask(k),
      idleTask: (c) => idleTask(k, c),
      // the quirk of 1daf08a0: an offline cpu's idle task goes through the stack check too
      cpuOnline: (c) => quirks.offlineIdle || cpuOnline(k, c),
    };
  }

  /**
   * Whether the patch module of a completed transition must keep its reference: a forced
   * patch's, or before 68007289 every one once any transition was forced; before d0807da7 an
   * immediate patch's too, as nothing tells when its old code stopped running.
   */
  keepsModule(patch: KlpPatch): boolean {
    return patch.forced || (this.quirks.forcedGlobal && this.forcedOnce) || this.quirks.immediate;
  }

  /** The patch in transition, or null when none is. */
  get transitionPatch(): KlpPatch | null {
    return this.patch;
  }

  /** KLP_PATCHED or KLP_UNPATCHED during a transition, KLP_UNDEFINED otherwise. */
  get targetState(): number {
    return this.k.mem.u32(this.targetAt) | 0;
  }

  /** Passes that left tasks behind since the transition (re)started: what the fake signals count. */
  get unfinishedPasses(): number {
    return this.signalsCnt;
  }

  /** When the retry work runs next (emulated ns), or null when none is scheduled. */
  get nextRetryNs(): number | null {
    return this.workDue;
  }

  // --- the guest-visible state --------------------------------------------------------------

  private setTargetState(s: number): void {
    this.k.mem.setU32(this.targetAt, s);
  }

  private setPatchState(t: Task, s: number): void {
    this.k.mem.setU32(t.address + this.oPatchState, s);
  }

  private setPending(t: Task, on: boolean): void {
    const at = t.address + this.oFlags;
    const v = this.k.mem.u64(at);
    this.k.mem.setU64(at, on ? v | this.pendingBit : v & ~this.pendingBit);
  }

  /**
   * A task's state and pending flag as the host writes them, and the record of the write; a
   * pass's switches (cause null) are not recorded one by one: its record implies them (see
   * events.ts), and a record per task would cost a pass over thousands of tasks its speed.
   * The state is written only when it changes: starting or reversing a transition touches only
   * the flags, as the kernel does, so a watchpoint on patch_state sees the writes that matter.
   */
  private setTask(t: Task, state: number, pending: boolean, cause: KlpTaskCause | null): void {
    if (t.patchState !== state) this.setPatchState(t, state);
    this.setPending(t, pending);
    if (cause) klpTaskEvent(this.k, t, state, pending, cause);
  }

  /** A phase of the transition of `patch`, in the event log. */
  private phase(phase: KlpPhase, patch: KlpPatch, left = 0): void {
    klpTransitionEvent(this.k, phase, patch.name, this.targetState, left, this.passes);
  }

  /** klp_cond_resched_enable()/disable(): whether cond_resched() checks current's stack. */
  private setCondReschedEnabled(on: boolean): void {
    this.k.mem.setU32(this.k.sym('klp_cond_resched_enabled'), on ? 1 : 0);
  }

  /** wake_up_if_idle(): an idle cpu goes round its loop (and through its switch point). */
  private wakeUpIfIdle(cpu: number): void {
    if (this.quirks.idleNotWoken || !cpuOnline(this.k, cpu)) return;
    if (cpuCurr(this.k, cpu).isIdle) this.k.machine.raiseInterrupt(cpu, this.k.layout.constant('RESCHEDULE_VECTOR'));
  }

  // --- walking the tasks --------------------------------------------------------------------

  /**
   * Wait until the guest's tasklist_lock is free; it does not take it. The host walks the list
   * with every vCPU stopped, so no one can change it during the walk -- unless a stopped vCPU
   * is inside a tasklist_lock section (a fork or an exit half-linked). With the lock free and
   * every vCPU stopped, the list is whole and stays so until the host lets the guest run again
   * (a guest call of its own, which the callers do only after the walk).
   */
  private *waitTasklistUnlocked(): HostTask<void> {
    const lock = this.k.sym('tasklist_lock') + BigInt(this.k.layout.value('spinlock_t.locked'));
    while (this.k.mem.u32(lock) !== 0) yield* callGuest(this.k.sym('lab_tasklist_barrier'));
  }

  /** for_each_process_thread(), then each possible cpu's idle task (one that has come up). */
  private *everyTask(): Generator<Task> {
    yield* forEachTask(this.k);
    for (let c = 0; c < this.k.nrCpus; c++) {
      const idle = idleTask(this.k, c);
      if (idle.address !== 0n) yield idle;
    }
  }

  /**
   * klp_synchronize_transition(): every cpu passes a quiescent state of its own, an idle one too
   * (kernel/rcu.c in the guest). Before 842c0884 it was synchronize_rcu(), which does not wait
   * for an idle cpu RCU is not watching, though the handler may be running there.
   */
  private *synchronizeTransition(): HostTask<void> {
    yield* callGuest(this.k.sym(this.quirks.rcuIdle ? 'synchronize_rcu' : 'synchronize_rcu_every_cpu'));
  }

  // --- the retry work (a delayed work item in the kernel) ----------------------------------

  /** Retry the transition in about an emulated second. */
  private scheduleTransitionWork(): void {
    this.workDue = this.k.machine.clockNs + 1e9;
  }

  private transitionWorkTimer(): void {
    if (this.workDue === null || this.workQueued || this.k.machine.clockNs < this.workDue) return;
    this.workDue = null;
    this.workQueued = true;
    this.k.host.submit('klp_transition_work', this.transitionWork());
  }

  /** klp_transition_work_fn() */
  private *transitionWork(): HostTask<void> {
    this.workQueued = false;
    if (this.patch) yield* this.tryCompleteTransition(this.core.currentTask());
  }

  // --- the transition ----------------------------------------------------------------------

  /** klp_init_transition(). */
  *initTransition(patch: KlpPatch, state: number): HostTask<void> {
    const k = this.k;
    warnOn(k, this.patch !== null, 'a transition is already in progress');
    this.patch = patch;
    // the target before any task can see a pending flag (klp_update_patch_state reads it)
    this.setTargetState(state);
    prDebug(k, DBG_INIT, `'${patch.name}': initializing ${stateName(state)} transition`);
    this.passes = 0;
    this.phase('init', patch);
    // an immediate patch (before d0807da7) has no per-task states: the handler takes the top
    // of each func_stack for everyone as soon as it is there
    if (this.quirks.immediate) return;
    // every task starts in the opposite state: the handler then runs what it ran before
    const initial = state === KLP_PATCHED ? KLP_UNPATCHED : KLP_PATCHED;
    yield* this.waitTasklistUnlocked();
    for (const t of this.everyTask()) {
      warnOn(k, t.patchState !== KLP_UNDEFINED, `${t} already has a patch state`);
      this.setPatchState(t, initial);
      klpTaskEvent(k, t, initial, t.testTifFlag('TIF_PATCH_PENDING'), 'init');
    }
    // func->transition only after every task has a state: the handler reads them in that order
    for (const obj of patch.objs) for (const func of obj.funcs) func.transition = true;
  }

  /** klp_start_transition(): mark every task that has to switch. */
  *startTransition(): HostTask<void> {
    const k = this.k;
    const patch = this.patch!;
    warnOn(k, this.targetState === KLP_UNDEFINED, 'no target state');
    prNotice(k, `'${patch.name}': starting ${stateName(this.targetState)} transition`);
    this.phase('start', patch);
    if (this.quirks.immediate) return;
    yield* this.waitTasklistUnlocked();
    for (const t of this.everyTask()) if (t.patchState !== this.targetState) this.setTask(t, t.patchState, true, 'start');
    // before e3ff7c60 a kthread that never sleeps could only be switched by a stack check
    if (!this.quirks.noCondResched) this.setCondReschedEnabled(true);
    this.signalsCnt = 0;
    this.signalRounds = 0;
    this.started = true;
  }

  /** klp_check_stack_func()'s range of every func of the patched objects, for one pass. */
  private forbiddenRanges(): ForbiddenRanges {
    const u = this.stacks.unwinder;
    const r = new ForbiddenRanges();
    const patcher = this.core.patcher;
    const target = this.targetState;
    for (const obj of this.patch!.objs) {
      if (!obj.patched) continue;
      for (const func of obj.funcs) {
        const [addr, size] = forbiddenRange(target, func, target === KLP_UNPATCHED ? undefined : patcher.nextOlder(func));
        const lo = u.offset(addr);
        r.add(func.oldName, lo, lo + Number(size));
      }
    }
    return r;
  }

  /** See switchVerdict() in switch.ts: the check of klp_try_switch_task() without its effects. */
  switchVerdict(task: Task, current: Task | null, ranges?: ForbiddenRanges): SwitchVerdict {
    return switchVerdict(task, current, this.core.haveReliableStack, this.stacks, ranges ?? this.forbiddenRanges());
  }

  /** klp_try_switch_task(): switch one task if it is provably safe (see switchVerdict). */
  trySwitchTask(task: Task, current: Task | null, ranges?: ForbiddenRanges): boolean {
    if (task.patchState === this.targetState) return true;
    const v = this.switchVerdict(task, current, ranges);
    if (v.ok) {
      this.setTask(task, this.targetState, false, ranges ? null : 'cond_resched');
      return true;
    }
    // a pass's verdicts (cond_resched() checks are many and leave no trace when they fail)
    if (ranges) klpBlockedEvent(this.k, task, v);
    const who = `klp_try_switch_task: ${task.comm}:${task.pid}`;
    if (v.why === 'running') prDebug(this.k, DBG_RUNNING, `${who} is running`);
    else if (v.why === 'unreliable stack') prDebug(this.k, DBG_UNRELIABLE, `${who} has an unreliable stack`);
    else if (v.why === 'sleeping on function') prDebug(this.k, DBG_SLEEPING, `${who} is sleeping on function ${v.func}`);
    return false;
  }

  /** __klp_sched_try_switch(): current, in cond_resched(), checks its own stack. */
  schedTrySwitch(current: Task): void {
    if (!current.testTifFlag('TIF_PATCH_PENDING') || !this.patch) return;
    this.trySwitchTask(current, current);
  }

  /**
   * klp_send_signals(): kick the tasks that still have to switch. The walk runs in the guest
   * under tasklist_lock (klp_send_signals in firmware/kernel/livepatch.c): waking a task runs
   * guest code, and with it the other vCPUs, so a list read once here could hold tasks that
   * exit and are freed before their turn.
   */
  private *sendSignals(): HostTask<void> {
    // before 43347d56 nothing kicked a task that slept in a patched function
    if (this.quirks.noFakeSignal) return;
    if (this.signalsCnt === SIGNALS_TIMEOUT) prNotice(this.k, 'signaling remaining tasks');
    this.phase('signals', this.patch!);
    yield* callGuest(this.k.sym('klp_send_signals'));
    this.signalsSent();
  }

  private signalsSent(): void {
    this.signalRounds++;
    for (const f of this.afterSignals) f();
  }

  /**
   * A round of fake signals now, outside the retry work: the guest's walk, klp_send_signals,
   * run by `call` (the explorer runs it where a schedule places the round, see placeSignals()).
   * What the kernel had as a sysfs attribute, `signal`, until 0b3d52790e1c ("livepatch: Remove
   * signal sysfs attribute"): an extra round at a moment of someone's choosing. Nothing without
   * a started transition.
   */
  signalRoundNow(call: (fn: bigint) => void): boolean {
    if (!this.patch || !this.started || this.quirks.noFakeSignal) return false;
    this.phase('signals', this.patch);
    call(this.k.sym('klp_send_signals'));
    this.signalsSent();
    return true;
  }

  /**
   * klp_try_complete_transition(): try to switch every remaining task; complete the transition
   * if all have switched, else try again in an emulated second. `current` is the calling task.
   */
  *tryCompleteTransition(current: Task | null): HostTask<boolean> {
    const k = this.k;
    warnOn(k, this.targetState === KLP_UNDEFINED, 'no target state');
    yield* this.waitTasklistUnlocked();
    const ranges = this.forbiddenRanges();
    let left = 0;
    const complete =
      this.quirks.immediate ||
      tryCompletePass(this.walk, this.targetState, {
        trySwitchTask: (t) => this.trySwitchTask(t, current, ranges) || (left++, false),
        switchTask: (t) => this.setTask(t, this.targetState, false, null),
        wakeUpIfIdle: (c) => this.wakeUpIfIdle(c),
      });
    this.passes++;
    this.phase('pass', this.patch!, left);
    if (!complete) {
      if (signalsDue(this.signalsCnt)) yield* this.sendSignals();
      this.signalsCnt++;
      this.scheduleTransitionWork();
      return false;
    }
    // done: cond_resched() stops looking, then the structures are cleaned up
    this.setCondReschedEnabled(false);
    this.started = false;
    const patch = this.patch!;
    yield* this.completeTransition();
    // a patch that was disabled is gone now; a replace patch has superseded the others
    if (!patch.enabled) this.core.freePatch(patch);
    else if (patch.replace) this.core.freeReplaced(patch);
    return true;
  }

  /** klp_complete_transition(). */
  private *completeTransition(): HostTask<void> {
    const k = this.k;
    const core = this.core;
    const patch = this.patch!;
    prDebug(k, DBG_COMPLETE, `'${patch.name}': completing ${stateName(this.targetState)} transition`);
    this.phase('completing', patch);
    if (patch.replace && this.targetState === KLP_PATCHED) {
      core.unpatchReplacedPatches(patch);
      core.discardNops(patch);
      // before 7e35e4eb they were freed here, so post_patch could not find their states
      if (this.quirks.replacedFreedEarly) core.freeReplaced(patch);
    }
    if (this.targetState === KLP_UNPATCHED) {
      // all tasks run the old code: drop the funcs, then wait until no handler can see them
      core.patcher.unpatchObjects(patch);
      yield* this.synchronizeTransition();
    }
    // an immediate patch never gave the tasks a state
    if (!this.quirks.immediate) yield* this.resetTaskStates(patch);
    for (const obj of patch.objs) {
      if (!obj.loaded) continue;
      if (this.targetState === KLP_PATCHED) yield* core.postPatchCallback(obj);
      else if (this.targetState === KLP_UNPATCHED) yield* core.postUnpatchCallback(obj);
    }
    prNotice(k, `'${patch.name}': ${stateName(this.targetState)} complete`);
    this.phase('complete', patch);
    this.setTargetState(KLP_UNDEFINED);
    this.patch = null;
  }

  /** The end of a transition: no func in transition, and no task with a state, any more. */
  private *resetTaskStates(patch: KlpPatch): HostTask<void> {
    const k = this.k;
    for (const obj of patch.objs) for (const func of obj.funcs) func.transition = false;
    // no handler may still see func->transition set when the tasks lose their state
    if (this.targetState === KLP_PATCHED) yield* this.synchronizeTransition();
    yield* this.waitTasklistUnlocked();
    for (const t of this.everyTask()) {
      warnOn(k, t.testTifFlag('TIF_PATCH_PENDING'), `${t} still has TIF_PATCH_PENDING`);
      this.setPatchState(t, KLP_UNDEFINED);
      klpTaskEvent(k, t, KLP_UNDEFINED, false, 'complete');
    }
  }

  /** klp_cancel_transition(): a failure before the transition started. */
  *cancelTransition(): HostTask<void> {
    const k = this.k;
    if (warnOn(k, this.targetState !== KLP_PATCHED, 'cancel of an unpatching transition')) return;
    prDebug(k, DBG_CANCEL, `'${this.patch!.name}': canceling patching transition, going to unpatch`);
    this.phase('cancel', this.patch!);
    this.setTargetState(KLP_UNPATCHED);
    yield* this.completeTransition();
  }

  /** klp_reverse_transition(): the transitioning patch was enabled or disabled again. */
  *reverseTransition(): HostTask<void> {
    const k = this.k;
    const patch = this.patch!;
    prDebug(
      k,
      DBG_REVERSE,
      `'${patch.name}': reversing transition from ${this.targetState === KLP_PATCHED ? 'patching to unpatching' : 'unpatching to patching'}`,
    );
    // no switch point may apply the old target once the new one is set: clear every pending
    // flag, and let the switch points already running finish
    this.started = false;
    this.phase('reverse', patch);
    yield* this.waitTasklistUnlocked();
    for (const t of this.everyTask()) this.setTask(t, t.patchState, false, 'reverse');
    yield* this.synchronizeTransition();
    patch.enabled = !patch.enabled;
    this.setTargetState(this.targetState === KLP_PATCHED ? KLP_UNPATCHED : KLP_PATCHED);
    yield* this.startTransition();
  }

  /** klp_force_transition(): switch every remaining task now, whatever its stack. */
  *forceTransition(): HostTask<void> {
    const k = this.k;
    const patch = this.patch!;
    prWarn(k, 'forcing remaining tasks to the patched state');
    this.forces++;
    this.phase('force', patch);
    yield* this.waitTasklistUnlocked();
    for (const t of this.everyTask()) {
      if (!t.testTifFlag('TIF_PATCH_PENDING')) continue;
      this.setTask(t, this.targetState, false, 'force');
    }
    // code of a forced patch may still run somewhere: its module can never be removed
    this.forcedOnce = true;
    if (this.quirks.forceMarksAll) for (const p of this.core.patches) p.forced = true;
    else if (this.targetState === KLP_UNPATCHED) patch.forced = true;
    else if (patch.replace) for (const p of this.core.patches) if (p !== patch) p.forced = true;
  }
}
