// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The command line's reusable pieces that the library entry (src/index.ts) also offers.
 */
export { patchStates, sysfsReport, type TaskPatchState } from './livepatch.ts';
export { formatTaskStack, taskStack, type TaskStack } from './orc.ts';
export { captureSession, chromeTrace, writeTrace, type ChromeTrace, type TraceSession } from './trace.ts';
export { captureKernelReport, captureReport, reportHtml, writeReport, type ReportSession } from './html-report.ts';
