// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Each task as the livepatch transition sees it: its patch state, its pending flag and, for a
 * task still to switch, what keeps it from switching now -- the check klp_try_switch_task()
 * would make, without its effects -- and the stack that check looked at. The `livepatch`
 * report, a running lab's status (status.ts) and the consistency checker's stall reports are
 * all built on it.
 */
import { allTasks, type Task } from '../kernel/index.ts';
import { KLP_UNDEFINED, Livepatch, type SwitchVerdict } from '../livepatch/index.ts';
import { taskStack, type TaskStack } from '../orc/index.ts';
import type { Lab } from './selftest.ts';

/** One task as the transition sees it; `blocked` and `stack` only for a task still to switch. */
export interface TaskPatchState {
  pid: number;
  comm: string;
  /** 'unpatched', 'patched', or '-' (KLP_UNDEFINED: no transition concerns it). */
  patchState: string;
  pending: boolean;
  /** What stops it now: 'running', 'sleeping on function X', 'unreliable stack', ...; 'can switch now' if nothing. */
  blocked?: string;
  /** The patched function its stack holds, when that is what stops it. */
  blockingFunction?: string;
  /** Its reliable stack trace, for a task that cannot switch now (unless left out). */
  stack?: TaskStack;
}

function verdictText(v: SwitchVerdict): string {
  if (v.ok) return 'can switch now';
  return v.why === 'sleeping on function' ? `sleeping on function ${v.func}` : v.why;
}

/** One task's patch state; `stacks: false` leaves the stack of a blocked task out (a cheaper look). */
export function taskPatchState(lab: Lab, t: Task, opts: { stacks?: boolean } = {}): TaskPatchState {
  const lp = lab.lp;
  const row: TaskPatchState = {
    pid: t.pid,
    comm: t.comm,
    patchState: t.patchState === KLP_UNDEFINED ? '-' : Livepatch.stateName(t.patchState),
    pending: t.testTifFlag('TIF_PATCH_PENDING'),
  };
  if (lp.transitionPatch && t.patchState !== lp.targetState) {
    const v = lp.transition.switchVerdict(t, null);
    row.blocked = verdictText(v);
    if (!v.ok && v.why === 'sleeping on function') row.blockingFunction = v.func;
    if (!v.ok && opts.stacks !== false) row.stack = taskStack(lab.k, t, { sym: lab.modules.symbolizer });
  }
  return row;
}

/**
 * Each task's patch state: what the transition sees (pending flag, state) and, for a task
 * still to switch, what stops it now and the stack that check looked at.
 */
export function patchStates(lab: Lab, opts: { stacks?: boolean } = {}): TaskPatchState[] {
  return allTasks(lab.k).map((t) => taskPatchState(lab, t, opts));
}
