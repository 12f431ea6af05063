// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Scenarios over a booted lab: the assembly of its parts (lab.ts, read it first), the
 * selftests' toolkit and the selftests, the CLI's reports, and a lab that keeps running
 * (running.ts) with its control socket (control.ts) serving the kernel's files (kernelfs.ts,
 * kmsg.ts).
 */
export { assembleLab, assembleModules, bootLab, withUnwinder, type LabParts } from './lab.ts';
export { cpuReport, cpuRows, runSummary, tableObjects, taskReport, taskRows } from './report.ts';
export { FIXTURES, Lab, SelftestError, type LabOptions } from './selftest.ts';
export { findModule, ModuleNotFoundError } from './modprobe.ts';
export {
  cacheDir,
  isKernelVersion,
  kernelSources,
  kernelTestModules,
  KernelSourcesError,
  KERNEL_VERSIONS,
  objM,
  type KernelSources,
  type KernelTestModules,
  type KernelVersion,
} from './kernel-sources.ts';
export { runSelftest, SELFTESTS, suites } from './selftests/index.ts';
export { RunningLab, RunningLabStoppedError, replayJournal, type JournalEntry, type Pace, type RunningLabOptions } from './running.ts';
export { applyRequest, ControlServer, type ControlRequest } from './control.ts';
export { KernelFiles, KernelFsError } from './kernelfs.ts';
export { Kmsg } from './kmsg.ts';
export { findSysctl, SYSCTLS, sysctlPath, type Sysctl } from './sysctl.ts';
export { findQuirk, QUIRKS, type Quirk } from './quirks.ts';
