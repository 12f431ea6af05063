// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the kernel's own reports (oops, WARN) need from an unwinder: a task's call trace. The
 * kernel does not know how stacks are unwound (that is src/orc/, above it); whoever assembles
 * the lab hands it one (Kernel.unwinder), and a kernel without one prints no trace.
 */
import type { Task } from './task.ts';

/** One call trace: innermost first; an exact entry is an interrupted ip, the others return addresses. */
export interface CallTraceResult {
  readonly entries: readonly bigint[];
  readonly exact: readonly boolean[];
  readonly reliable: boolean;
  readonly message?: string;
}

export interface KernelUnwinder {
  /** The task's trace, following interrupted kernel registers, not insisting on a clean end. */
  trace(task: Task, maxEntries: number, opts: { kernelRegs: 'follow'; checkEnd: false }): CallTraceResult;
}
