// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel-like guest seen from the host: boot, image and layout, drgn-style views of tasks,
 * the event log, host calls, module registry, kallsyms (the one symbolizer), oops and WARN
 * reports (handed an unwinder), cpu hotplug and dynamic debug. Knows nothing above it.
 */
export { BootError, bootKernel, type BootOptions, DEFAULT_IMAGE, quirkEnabled, quirks, workloads } from './boot.ts';
export { DdebugQueryError, guestDescriptors, hostDebugSite, type HostDebugSite, hostPrDebug, parseQueries } from './dynamic-debug.ts';
export { EV_MODULE, EV_SYSFS_WRITE, formatTimestamp, LogOverrunError, type LabEvent } from './events.ts';
export { ExecError, type ProcessIo, UserProcesses } from './exec.ts';
export { callGuest, type HostTask } from './hostcall.ts';
export { HostMemoryError } from './hostmem.ts';
export { cpuDown, CpuHotplugError, cpuUp } from './hotplug.ts';
export { KernelImage } from './image.ts';
export { imageSymbolizer, symbolize, type Symbolizer, SymbolTable } from './kallsyms.ts';
export { Kernel, KernelOops, KernelPanic } from './kernel.ts';
export { kstrtobool } from './kstrtox.ts';
export { type Layout } from './layout.ts';
export { initListHead, listAddRcu, listDelRcu, listEmpty, ListError, listForEach, listIsSingular, listNext } from './list.ts';
export { LoadedModule, Modules, type ModuleCodeHook } from './modules.ts';
export { moduleParams } from './modparams.ts';
export { SEQ_BUF_SIZE, SeqReadError, seqRead } from './seq-file.ts';
export { type KobjectFile, kobjectFiles, kobjectShow, SysfsError, sysfsWriteEvent } from './sysfs.ts';
export { procDointvec, SysctlError } from './sysctl.ts';
export type { CallTraceResult, KernelUnwinder } from './stacktrace.ts';
export {
  allTasks,
  cpuCurr,
  cpuOnline,
  forEachTask,
  idleTask,
  perCpuAddress,
  rqNrQueued,
  rqNrSwitches,
  type Target,
  Task,
  TaskListError,
} from './task.ts';
