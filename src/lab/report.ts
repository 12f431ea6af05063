// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a booted machine is doing, as text: each vCPU (current task, instructions, interrupts,
 * halted or not) and each task (ps-style: pid, comm, state, cpu, running or where it sleeps).
 */
import { type Kernel, type Task, cpuOnline, rqNrQueued, rqNrSwitches, symbolize } from '../kernel/index.ts';
import type { RunResult } from '../emu/index.ts';

/** Rows as aligned text columns (two spaces apart, the last column not padded), header first. */
export function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

/** A table as objects keyed by its header (lower case), for JSON. */
export function tableObjects(rows: readonly string[][]): Record<string, string>[] {
  const keys = rows[0].map((h) => h.toLowerCase());
  return rows.slice(1).map((r) => Object.fromEntries(r.map((c, i) => [keys[i], c])));
}

export function cpuReport(k: Kernel): string[] {
  return table(cpuRows(k));
}

/** One vCPU as the reports show it. */
export interface CpuState {
  cpu: number;
  online: boolean;
  /** The vCPU's own state: executing, halted (waiting for an interrupt), or dead (parked with interrupts off). */
  state: 'running' | 'halted' | 'dead';
  /** The task current on it, null before the cpu has booted far enough to have one. */
  current: Task | null;
  queued: number;
  switches: bigint;
  insns: bigint;
  timer: number;
  ipi: number;
  syscalls: number;
  /** Where it executes, symbolized. */
  rip: string;
}

/** Each vCPU, in order. */
export function cpuStates(k: Kernel): CpuState[] {
  const L = k.layout;
  return k.machine.cpus.map((c) => {
    const curr = k.cpuCurr(c.index);
    return {
      cpu: c.index,
      online: cpuOnline(k, c.index),
      state: c.dead ? 'dead' : c.halted ? 'halted' : 'running',
      current: curr.address === 0n ? null : curr,
      queued: rqNrQueued(k, c.index),
      switches: rqNrSwitches(k, c.index),
      insns: c.insns,
      timer: c.delivered(L.constant('TIMER_VECTOR')),
      ipi: c.delivered(L.constant('RESCHEDULE_VECTOR')) + c.delivered(L.constant('CALL_FUNCTION_VECTOR')),
      syscalls: c.delivered(L.constant('SYSCALL_VECTOR')),
      rip: symbolize(k.image, c.rip),
    };
  });
}

/** Each vCPU: header row first. A cpu that has not booted far enough to have a task shows '-'. */
export function cpuRows(k: Kernel): string[][] {
  const rows = [['CPU', 'ONLINE', 'STATE', 'CURRENT', 'QUEUED', 'SWITCHES', 'INSNS', 'TIMER', 'IPI', 'SYSCALLS', 'RIP']];
  for (const c of cpuStates(k))
    rows.push([
      String(c.cpu),
      c.online ? 'yes' : 'no',
      c.state,
      c.current ? c.current.toString() : '-',
      String(c.queued),
      String(c.switches),
      String(c.insns),
      String(c.timer),
      String(c.ipi),
      String(c.syscalls),
      c.rip,
    ]);
  return rows;
}

export function taskReport(k: Kernel): string[] {
  return table(taskRows(k));
}

/** One task, ps-style. */
export interface TaskState {
  pid: number;
  comm: string;
  /** ps's state letter: R, S, D, ... */
  state: string;
  mode: 'kernel' | 'user';
  /** The cpu whose runqueue it is on. */
  cpu: number;
  /** The cpu it is current on, or -1. */
  onCpu: number;
  nvcsw: bigint;
  nivcsw: bigint;
  utime: bigint;
  stime: bigint;
  /** Its saved stack pointer and where it called into the scheduler, when switched out. */
  savedSp?: bigint;
  switchedOutAt?: string;
}

/** One task's ps-style view. */
export function taskState(k: Kernel, t: Task): TaskState {
  const on = t.currentOn();
  const s: TaskState = {
    pid: t.pid,
    comm: t.comm,
    state: t.stateChar,
    mode: t.isKthread ? 'kernel' : 'user',
    cpu: t.cpu,
    onCpu: on,
    nvcsw: t.nvcsw,
    nivcsw: t.nivcsw,
    utime: t.utimeTicks,
    stime: t.stimeTicks,
  };
  if (on < 0) {
    s.savedSp = t.threadSp;
    const frameRet = BigInt(k.layout.offset('inactive_task_frame', 'ret_addr'));
    // the return address __switch_to_asm left: where the task called into the scheduler
    if (k.mem.contains(t.threadSp + frameRet, 8)) s.switchedOutAt = symbolize(k.image, k.mem.u64(t.threadSp + frameRet));
  }
  return s;
}

/** Each task, ps-style: header row first. */
export function taskRows(k: Kernel): string[][] {
  const rows = [['PID', 'COMM', 'S', 'MODE', 'CPU', 'ON-CPU', 'NVCSW', 'NIVCSW', 'UTIME', 'STIME', 'SAVED-SP', 'SWITCHED-OUT-AT']];
  for (const t of k.tasks()) {
    const s = taskState(k, t);
    rows.push([
      String(s.pid),
      s.comm,
      s.state,
      s.mode,
      String(s.cpu),
      s.onCpu >= 0 ? `cpu${s.onCpu}` : '-',
      String(s.nvcsw),
      String(s.nivcsw),
      String(s.utime),
      String(s.stime),
      s.savedSp === undefined ? '-' : `0x${s.savedSp.toString(16)}`,
      s.switchedOutAt ?? '-',
    ]);
  }
  return rows;
}

export function runSummary(r: RunResult): string {
  const mips = Number(r.insns) / (r.totalMs * 1e3);
  return (
    `ran ${(r.ns / 1e6).toFixed(1)} ms emulated in ${r.rounds} rounds: ${r.insns} instructions, ` +
    `${r.totalMs.toFixed(1)} ms host (${mips.toFixed(1)} MIPS, ${((100 * r.engineMs) / r.totalMs).toFixed(1)}% in the engines)`
  );
}
