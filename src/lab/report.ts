// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a booted machine is doing, as text: each vCPU (current task, instructions, interrupts,
 * halted or not) and each task (ps-style: pid, comm, state, cpu, running or where it sleeps).
 */
import { type Kernel, cpuOnline, rqNrQueued, rqNrSwitches, symbolize } from '../kernel/index.ts';
import type { RunResult } from '../emu/index.ts';

function table(rows: string[][]): string[] {
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

/** Each vCPU: header row first. A cpu that has not booted far enough to have a task shows '-'. */
export function cpuRows(k: Kernel): string[][] {
  const rows = [['CPU', 'ONLINE', 'STATE', 'CURRENT', 'QUEUED', 'SWITCHES', 'INSNS', 'TIMER', 'IPI', 'SYSCALLS', 'RIP']];
  const L = k.layout;
  for (const c of k.machine.cpus) {
    const curr = k.cpuCurr(c.index);
    rows.push([
      String(c.index),
      cpuOnline(k, c.index) ? 'yes' : 'no',
      c.dead ? 'dead' : c.halted ? 'halted' : 'running',
      curr.address === 0n ? '-' : curr.toString(),
      String(rqNrQueued(k, c.index)),
      String(rqNrSwitches(k, c.index)),
      String(c.insns),
      String(c.delivered(L.constant('TIMER_VECTOR'))),
      String(c.delivered(L.constant('RESCHEDULE_VECTOR')) + c.delivered(L.constant('CALL_FUNCTION_VECTOR'))),
      String(c.delivered(L.constant('SYSCALL_VECTOR'))),
      symbolize(k.image, c.rip),
    ]);
  }
  return rows;
}

export function taskReport(k: Kernel): string[] {
  return table(taskRows(k));
}

/** Each task, ps-style: header row first. */
export function taskRows(k: Kernel): string[][] {
  const rows = [['PID', 'COMM', 'S', 'MODE', 'CPU', 'ON-CPU', 'NVCSW', 'NIVCSW', 'UTIME', 'STIME', 'SAVED-SP', 'SWITCHED-OUT-AT']];
  const frameRet = k.layout.offset('inactive_task_frame', 'ret_addr');
  for (const t of k.tasks()) {
    const on = t.currentOn();
    let where = '-';
    if (on < 0 && k.mem.contains(t.threadSp + BigInt(frameRet), 8)) {
      // the return address __switch_to_asm left: where the task called into the scheduler
      const ret = k.mem.u64(t.threadSp + BigInt(frameRet));
      where = symbolize(k.image, ret);
    }
    rows.push([
      String(t.pid),
      t.comm,
      t.stateChar,
      t.isKthread ? 'kernel' : 'user',
      String(t.cpu),
      on >= 0 ? `cpu${on}` : '-',
      String(t.nvcsw),
      String(t.nivcsw),
      String(t.utimeTicks),
      String(t.stimeTicks),
      on >= 0 ? '-' : `0x${t.threadSp.toString(16)}`,
      where,
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
