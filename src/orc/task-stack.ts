// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A task's reliable stack trace as the reports show it: where the task was, whether the trace
 * is reliable (and if not, why and where the unwinder stopped), each entry symbolized kernel
 * style. The `stack` command, the livepatch report's blocking tasks and the consistency
 * checker's violations all print the same thing from the same walk.
 */
import { imageSymbolizer, type Kernel, type Symbolizer, type Task } from '../kernel/index.ts';
import { orcUnwinder, type StackTrace, type UnwindOptions } from './unwind.ts';

/** One line per entry, kernel style: return addresses as %pB, exact ips as %pS. */
export function formatTrace(trace: StackTrace, sym: Symbolizer): string[] {
  return trace.entries.map((e, i) => ` ${trace.exact[i] ? sym.symbolize(e) : sym.symbolizeReturn(e)}`);
}

/** A task's stack as the reports show it: text lines (human) and fields (--json) from one walk. */
export interface TaskStack {
  pid: number;
  comm: string;
  /** "switched out", "running on cpu 1", "running on cpu 1 in user mode" */
  where: string;
  reliable: boolean;
  /** Why the unwinder gave up, and where (an unreliable trace only). */
  unreliable?: string;
  /** Symbolized entries, innermost first, kernel style. */
  trace: string[];
}

/** The reliable stack trace of one task on the stopped machine (sym: the modules' symbolizer when there are modules). */
export function taskStack(kernel: Kernel, task: Task, opts: UnwindOptions & { maxEntries?: number; sym?: Symbolizer } = {}): TaskStack {
  const trace = orcUnwinder(kernel).trace(task, opts.maxEntries ?? 100, opts);
  const sym = opts.sym ?? imageSymbolizer(kernel.image.elf);
  const where =
    trace.start.from === 'cpu' ? `running on cpu ${trace.start.cpu}${trace.start.userMode ? ' in user mode' : ''}` : 'switched out';
  const out: TaskStack = {
    pid: task.pid,
    comm: task.comm,
    where,
    reliable: trace.reliable,
    trace: formatTrace(trace, sym).map((l) => l.trim()),
  };
  if (!trace.reliable) {
    const at = trace.where.address !== undefined ? ` at ${sym.symbolize(trace.where.address)} (0x${trace.where.address.toString(16)})` : '';
    out.unreliable = `${trace.message}${at}`;
  }
  return out;
}

/** The text of a TaskStack, as `stack` prints it. */
export function formatTaskStack(s: TaskStack): string[] {
  const n = `${s.trace.length} entr${s.trace.length === 1 ? 'y' : 'ies'}`;
  const lines = [`task ${s.comm} pid ${s.pid} (${s.where}):`];
  lines.push(s.reliable ? `reliable stack trace, ${n}` : `unreliable stack trace: ${s.unreliable}, after ${n}`);
  if (s.trace.length) lines.push('Call Trace:', ...s.trace.map((l) => ` ${l}`));
  return lines;
}
