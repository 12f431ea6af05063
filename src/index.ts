// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * klp-lab as a library (`import { Lab } from 'klp-lab'`): what a script needs to boot a lab,
 * load modules and patches, read and write sysfs, and look at tasks and their stacks. These
 * are the objects the CLI and the selftests use; nothing here is a separate API to keep in step.
 *
 *   Lab.boot(opts)                boot the image on emulated vCPUs (BootOptions: cpus, workload,
 *                                 seed, preempt, quantum, image; LivepatchOptions)
 *   bootLab(opts)                 the same, giving the parts themselves (src/lab/lab.ts assembles
 *                                 them: kernel, unwinder, modules, livepatch)
 *   lab.loadLp(name, params)      modprobe a fixture patch and wait for its transition
 *   lab.modules.load(path)        insmod one's own object file
 *   lab.disableLp / unloadMod / waitForTransition / setParam / cat(function) / k.runFor(ms)
 *   lab.lp.sysfsRead(path)        /sys/kernel/livepatch/..., lab.lp.sysfsTree() lists it
 *   lab.k.tasks()                 every task (drgn-style views: pid, comm, patchState, ...)
 *   taskStack(lab.k, task)        a task's reliable stack trace, symbolized
 *   patchStates(lab)              each task's patch state and what keeps it from switching
 *   writeTrace(file, [captureSession(lab.k, name)])   the session's timeline (Chrome JSON trace)
 *   writeReport(file, [captureReport(lab, name)])     the session's report (one offline HTML file)
 *   RunningLab.start(opts)        a lab that keeps running (pace), requests between slices
 *   ControlServer.listen(running) its control socket, serving KernelFiles and Kmsg
 *
 * src/index.mjs is the entry point for plain Node: it registers tsx and re-exports this file.
 */
export { Lab, FIXTURES, SelftestError, bootLab, assembleLab, type LabParts } from './lab/index.ts';
export { RunningLab, replayJournal, ControlServer, KernelFiles, KernelFsError, Kmsg } from './lab/index.ts';
export { bootKernel, workloads, DEFAULT_IMAGE, BootError, type BootOptions } from './kernel/index.ts';
export { Kernel, KernelOops, KernelPanic } from './kernel/index.ts';
export { Task } from './kernel/index.ts';
export { Livepatch, type LivepatchOptions } from './livepatch/index.ts';
export { LivepatchError } from './livepatch/index.ts';
export { stackTraceSaveTskReliable, type StackTrace } from './orc/index.ts';
export { taskStack, formatTaskStack, type TaskStack } from './cli/index.ts';
export { patchStates, sysfsReport, type TaskPatchState } from './cli/index.ts';
export { captureSession, chromeTrace, writeTrace, type ChromeTrace, type TraceSession } from './cli/index.ts';
export { captureKernelReport, captureReport, reportHtml, writeReport, type ReportSession } from './cli/index.ts';
