// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a lab is doing right now, as one JSON-ready object: each vCPU (what runs on it, idle,
 * offline), each task (ps's view and the transition's), the patch in transition with its
 * progress and what blocks it, the patches, emulated time and the log's counters. A running
 * lab's control socket answers `status` with it and `klp-lab top` / `livepatch --live` draw
 * it; it is built from the same views as the reports printed at the end of a run (report.ts,
 * patch-states.ts), so the live view and the final report cannot disagree.
 *
 * Taking a status only reads the machine (the switch check is klp_try_switch_task()'s without
 * its effects), so looking at a lab as often as one likes does not change its history.
 */
import { allTasks, TaskListError, type Task } from '../kernel/index.ts';
import { Livepatch } from '../livepatch/index.ts';
import { taskPatchState, type TaskPatchState } from './patch-states.ts';
import { cpuStates, taskState } from './report.ts';
import type { Lab } from './selftest.ts';

export interface CpuStatus {
  cpu: number;
  /** offline (taken down, or not up yet), idle (its idle task runs), running (some other task), dead (parked while online). */
  state: 'offline' | 'idle' | 'running' | 'dead';
  /** The vCPU itself: executing, halted waiting for an interrupt, or dead (parked with interrupts off). */
  vcpu: 'running' | 'halted' | 'dead';
  current: { pid: number; comm: string } | null;
  queued: number;
  insns: number;
  rip: string;
}

export interface TaskStatus extends TaskPatchState {
  /** ps's state letter. */
  state: string;
  mode: 'kernel' | 'user';
  cpu: number;
  /** The cpu it is current on, or -1. */
  onCpu: number;
  /** Where it called into the scheduler, when switched out. */
  switchedOutAt?: string;
}

/** A task that keeps the transition from completing, and why. */
export interface Blocker {
  pid: number;
  comm: string;
  /** 'running', 'sleeping on function X', 'unreliable stack', ... */
  why: string;
  /** The patched function on its stack, when that is the reason. */
  function?: string;
}

export interface TransitionStatus {
  patch: string;
  /** The state every task is moving to. */
  target: string;
  /** Tasks (idle tasks included) that the transition concerns. */
  tasks: number;
  /** Of them, still in the old state. */
  pending: number;
  /** Passes of klp_try_complete_transition() that left tasks behind (the fake signals go every 15th). */
  unfinishedPasses: number;
  /** When the next pass runs (emulated ns), if one is scheduled. */
  nextRetryNs: number | null;
  /** The tasks still to switch that cannot switch now. */
  blockers: Blocker[];
}

export interface PatchStatus {
  name: string;
  enabled: boolean;
  replace: boolean;
  forced: boolean;
  transition: boolean;
}

export interface LabStatus {
  clockNs: number;
  cpus: CpuStatus[];
  tasks: TaskStatus[];
  /** Why the tasks could not be listed this time (the task list was caught half-linked), if so. */
  tasksError?: string;
  transition: TransitionStatus | null;
  patches: PatchStatus[];
  log: {
    /** Entries logged so far. */
    records: number;
    dropped: number;
    lostInGuest: number;
    warnings: number;
    lastWarning?: string;
    oopses: number;
    panics: number;
  };
}

export interface StatusOptions {
  /** Include the stack trace of each task that cannot switch now (default: no). */
  stacks?: boolean;
}

function cpuStatus(lab: Lab): CpuStatus[] {
  return cpuStates(lab.k).map((c) => {
    const idle = c.current?.isIdle ?? false;
    return {
      cpu: c.cpu,
      state: !c.online ? 'offline' : c.state === 'dead' ? 'dead' : idle || !c.current ? 'idle' : 'running',
      vcpu: c.state,
      current: c.current ? { pid: c.current.pid, comm: c.current.comm } : null,
      queued: c.queued,
      insns: Number(c.insns),
      rip: c.rip,
    };
  });
}

function taskStatus(lab: Lab, t: Task, opts: StatusOptions): TaskStatus {
  const s = taskState(lab.k, t);
  const p = taskPatchState(lab, t, { stacks: opts.stacks ?? false });
  return {
    ...p,
    state: s.state,
    mode: s.mode,
    cpu: s.cpu,
    onCpu: s.onCpu,
    ...(s.switchedOutAt !== undefined ? { switchedOutAt: s.switchedOutAt } : {}),
  };
}

/** The lab's state now, with every vCPU stopped. */
export function labStatus(lab: Lab, opts: StatusOptions = {}): LabStatus {
  const { k, lp } = lab;
  let tasks: TaskStatus[] = [];
  let tasksError: string | undefined;
  try {
    tasks = allTasks(k).map((t) => taskStatus(lab, t, opts));
  } catch (e) {
    // a look between two rounds may catch a fork or an exit halfway through the list
    if (!(e instanceof TaskListError)) throw e;
    tasksError = e.message;
  }
  const tp = lp.transitionPatch;
  let transition: TransitionStatus | null = null;
  if (tp) {
    const target = Livepatch.stateName(lp.targetState);
    const concerned = tasks.filter((t) => t.patchState !== '-');
    transition = {
      patch: tp.name,
      target,
      tasks: concerned.length,
      pending: concerned.filter((t) => t.patchState !== target).length,
      unfinishedPasses: lp.transition.unfinishedPasses,
      nextRetryNs: lp.transition.nextRetryNs,
      blockers: tasks
        .filter((t) => t.blocked !== undefined && t.blocked !== 'can switch now')
        .map((t) => ({ pid: t.pid, comm: t.comm, why: t.blocked!, ...(t.blockingFunction ? { function: t.blockingFunction } : {}) })),
    };
  }
  const c = k.log.counters();
  return {
    clockNs: k.machine.clockNs,
    cpus: cpuStatus(lab),
    tasks,
    ...(tasksError ? { tasksError } : {}),
    transition,
    patches: lp.patches.map((p) => ({ name: p.name, enabled: p.enabled, replace: p.replace, forced: p.forced, transition: p === tp })),
    log: {
      records: c.records,
      dropped: c.dropped,
      lostInGuest: c.lostInGuest,
      warnings: c.warnings,
      ...(c.lastWarning ? { lastWarning: c.lastWarning } : {}),
      oopses: c.oopses,
      panics: c.panics,
    },
  };
}
