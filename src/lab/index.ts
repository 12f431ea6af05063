// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Scenarios over a booted lab: the assembly of its parts (lab.ts, read it first), the
 * selftests' toolkit and the selftests, the steps of a livepatch session (steps.ts), the CLI's
 * reports, and a lab that keeps running (running.ts) with its control socket (control.ts)
 * serving the kernel's files (kernelfs.ts, kmsg.ts).
 */
export { assembleLab, assembleModules, bootLab, withUnwinder, type LabParts } from './lab.ts';
export {
  cpuReport,
  cpuRows,
  cpuStates,
  runSummary,
  table,
  tableObjects,
  taskReport,
  taskRows,
  taskState,
  type CpuState,
  type TaskState,
} from './report.ts';
export { patchStates, taskPatchState, type TaskPatchState } from './patch-states.ts';
export {
  labStatus,
  type Blocker,
  type CpuStatus,
  type LabStatus,
  type PatchStatus,
  type StatusOptions,
  type TaskStatus,
  type TransitionStatus,
} from './status.ts';
export { FIXTURES, Lab, SelftestError, type LabOptions } from './selftest.ts';
export { attachChecker, attachConsistencyChecker, type CheckerOptions } from './checker.ts';
export { funcStackProblems, invariantProblems, sysfsProblems, taskStateProblems, type InvariantProblem } from './invariants.ts';
export type { CheckerFactory, LabChecker, Violation, ViolationTask } from './violation.ts';
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
export { applyRequest, ControlServer, runningLabSockets, type ControlRequest } from './control.ts';
export { KernelFiles, KernelFsError } from './kernelfs.ts';
export { Kmsg } from './kmsg.ts';
export { findSysctl, SYSCTLS, sysctlPath, type Sysctl } from './sysctl.ts';
export { isObjectPath, parseStep, runStep, StepError, StepFailure, type Step } from './steps.ts';
export type { Scenario } from './scenario.ts';
export { QUIRKS, findQuirk, type Quirk } from './quirks.ts';
export { describeSchedule, generateSchedule, type InjectedEvent, type Schedule } from './explore/schedule.ts';
export { runSchedule, type RunOutcome } from './explore/run.ts';
export { builtinScenarios, ExploreError, resolveScenario, SCENARIOS } from './explore/scenarios.ts';
export { readReplay, replay, writeReplay, type ReplayFile } from './explore/replay.ts';
export {
  explore,
  mergeShards,
  parseShard,
  shardResult,
  writeShardResult,
  type CampaignResult,
  type Progress,
  type Shard,
} from './explore/campaign.ts';
export { loadChecker, type CheckerRef } from './explore/pool.ts';
