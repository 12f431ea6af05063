// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The lab's sysctls, by key: what /proc/sys/<key with dots as slashes> reads and what a write
 * does. One table for the lab's files (kernelfs.ts) and the CLI's sysctl: step, so both act
 * the same. The lab has one: kernel.ftrace_enabled (src/ftrace/sysctl.ts).
 */
import { FTRACE_ENABLED_KEY, ftraceEnabledRead, ftraceEnableSysctl } from '../ftrace/index.ts';
import type { Lab } from './selftest.ts';

export interface Sysctl {
  readonly key: string;
  /** The file's content ("1\n"). */
  read(lab: Lab): string;
  /** One write(2) of data; throws the kernel's refusal (SysctlError, FtraceError). */
  write(lab: Lab, data: string): void;
}

export const SYSCTLS: readonly Sysctl[] = [
  {
    key: FTRACE_ENABLED_KEY,
    read: (lab) => ftraceEnabledRead(lab.ftrace),
    write: (lab, data) => ftraceEnableSysctl(lab.ftrace, data),
  },
];

export function findSysctl(key: string): Sysctl | undefined {
  return SYSCTLS.find((s) => s.key === key);
}

/** "kernel.ftrace_enabled" -> "/proc/sys/kernel/ftrace_enabled" */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}
