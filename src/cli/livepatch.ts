// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab livepatch STEP...`: a livepatch session on a booted lab kernel, written the way a
 * selftest script reads -- modprobe, echo to sysfs, rmmod, wait -- followed by what happened:
 * the kernel log from the first step on (the per-task debug lines included), the sysfs tree
 * with its values, and every task's patch state.
 *
 * The steps themselves (parseStep, runStep) are the lab's: src/lab/steps.ts.
 */
import { patchStates, type Lab, type TaskPatchState } from '../lab/index.ts';
import { type Kernel, formatTimestamp } from '../kernel/index.ts';
import { Livepatch, sysfsMode } from '../livepatch/index.ts';
import { formatTaskStack } from './orc.ts';

// each task's patch state is the lab's (the consistency checker reports stalls with it)
export { patchStates, type TaskPatchState } from '../lab/index.ts';

/** One entry of /sys/kernel/livepatch: its mode and, for a readable attribute, its value. */
export interface SysfsEntry {
  path: string;
  mode: string;
  value?: string;
}

/** Every sysfs entry of every patch with its mode and, for readable attributes, its value. */
export function sysfsEntries(lp: Livepatch): SysfsEntry[] {
  return lp.sysfsTree().map((path) => {
    const mode = sysfsMode(lp, path);
    const readable = !path.endsWith('/') && mode[1] === 'r';
    return readable ? { path, mode, value: lp.sysfsRead(path) } : { path, mode };
  });
}

/** sysfsEntries() as `mode path = value` lines. */
export function sysfsReport(lp: Livepatch): string[] {
  return sysfsEntries(lp).map((e) => `${e.mode} ${e.path}${e.value !== undefined ? ` = ${e.value}` : ''}`);
}

/** patchStates() as a ps-style table. */
export function patchStateReport(lab: Lab, states = patchStates(lab)): string[] {
  const rows = states.map((s) => [String(s.pid), s.comm, s.patchState, s.pending ? 'pending' : '', s.blocked ?? '']);
  const table = [['PID', 'COMM', 'PATCH', 'FLAG', 'SWITCH'], ...rows];
  const w = [0, 1, 2, 3].map((i) => Math.max(...table.map((r) => r[i].length)));
  return table.map((r) =>
    r
      .map((c, i) => (i < 4 ? c.padEnd(w[i]) : c))
      .join('  ')
      .trimEnd(),
  );
}

/** The stack trace of every task that still blocks the transition, as `stack` prints one. */
export function blockingStacksReport(states: readonly TaskPatchState[]): string[] {
  const out: string[] = [];
  for (const s of states) if (s.stack) out.push(...formatTaskStack(s.stack), '');
  return out.length ? out.slice(0, -1) : ['no task blocks the transition'];
}

/** Kernel log lines with dmesg's timestamps, from printk events. */
export interface LogLine {
  /** Emulated nanoseconds since boot. */
  tsNs: number;
  level: number;
  text: string;
}

/**
 * The kernel log from log cursor `from` on (k.log.cursor()), or all the log still holds;
 * LogOverrunError if entries after the cursor were dropped already.
 */
export function logSince(k: Kernel, from?: number): LogLine[] {
  return (from === undefined ? k.log.events : k.log.since(from))
    .filter((e) => e.type === 'printk')
    .map((e) => ({ tsNs: e.tsNs, level: e.a, text: e.text }));
}

export function formatLog(lines: readonly LogLine[]): string[] {
  return lines.map((l) => `${formatTimestamp(l.tsNs)} ${l.text}`);
}
