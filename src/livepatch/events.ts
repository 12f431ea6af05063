// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the livepatch core records in the lab's event log. The core is host code: what it
 * decides (a transition's phases, each task's state and pending flag as it writes them, the
 * verdict of each klp_try_switch_task that leaves a task behind, the callbacks, the sysfs
 * writes) leaves no record in the guest's ring, so it writes its own, in order with the
 * guest's, at the emulated time it acts. The guest adds one kind itself: EV_KLP_SWITCH, a task
 * taking its target state at a switch point. A trace or a report built from the log then shows
 * the transition as it happened rather than as it ended.
 *
 * Every record is a LabEvent (src/kernel/events.ts); the fields, per type:
 *   klp_transition  pid -1, a: target state, b: tasks left (pass), c: pass number, text: "PHASE PATCH"
 *   klp_task        pid (0 and cpu: that cpu's idle task), a: patch state, b: pending flag, c: KlpTaskCause
 *                   (every host write but a pass's switches: a task pending when a pass's record
 *                   comes, with no klp_blocked record of that pass, switched in that pass)
 *   klp_blocked     pid (as klp_task), a: KlpBlockReason, text: the function it sleeps on
 *   klp_callback    pid -1, a: return value, b: 0 begins, 1 ends, text: "CALLBACK OBJECT"
 * and the kernel's own sysfs_write (src/kernel/events.ts) for /sys/kernel/livepatch.
 */
import type { Kernel, Task } from '../kernel/index.ts';
import type { SwitchVerdict } from './switch.ts';

export const KLP_EV_TRANSITION = 'klp_transition';
export const KLP_EV_TASK = 'klp_task';
export const KLP_EV_BLOCKED = 'klp_blocked';
export const KLP_EV_CALLBACK = 'klp_callback';

/** A transition's phases, in transition.c's order (pass and signals repeat). */
export type KlpPhase = 'init' | 'start' | 'pass' | 'signals' | 'force' | 'reverse' | 'cancel' | 'completing' | 'complete';

/** Why the host wrote a task's patch state or pending flag (klp_task's c). */
export const KLP_TASK_CAUSES = [
  'init', // klp_init_transition: every task starts in the opposite state
  'start', // klp_start_transition: pending set
  'cond_resched', // __klp_sched_try_switch: current checked its own stack
  'force', // klp_force_transition
  'reverse', // klp_reverse_transition: pending cleared
  'complete', // klp_complete_transition: back to KLP_UNDEFINED
] as const;
export type KlpTaskCause = (typeof KLP_TASK_CAUSES)[number];

/** What kept a task from switching (klp_blocked's a). */
export const KLP_BLOCK_REASONS = ['running', 'unreliable stack', 'sleeping on function', 'no reliable stacktrace'] as const;

export function klpTransitionEvent(k: Kernel, phase: KlpPhase, patch: string, target: number, left = 0, pass = 0): void {
  k.log.hostEvent(KLP_EV_TRANSITION, k.machine.clockNs, 0, -1, target, left, pass, `${phase} ${patch}`);
}

export function klpTaskEvent(k: Kernel, t: Task, state: number, pending: boolean, cause: KlpTaskCause): void {
  k.log.hostEvent(KLP_EV_TASK, k.machine.clockNs, t.cpu, t.pid, state, pending ? 1 : 0, KLP_TASK_CAUSES.indexOf(cause));
}

export function klpBlockedEvent(k: Kernel, t: Task, v: Exclude<SwitchVerdict, { ok: true }>): void {
  const func = v.why === 'sleeping on function' ? v.func : '';
  k.log.hostEvent(KLP_EV_BLOCKED, k.machine.clockNs, t.cpu, t.pid, KLP_BLOCK_REASONS.indexOf(v.why), 0, 0, func);
}

export function klpCallbackEvent(k: Kernel, callback: string, obj: string, end: boolean, ret = 0): void {
  k.log.hostEvent(KLP_EV_CALLBACK, k.machine.clockNs, 0, -1, ret, end ? 1 : 0, 0, `${callback} ${obj}`);
}
