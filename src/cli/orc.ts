// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ORC pieces of the command line, as functions the main CLI calls: `orc dump FILE` (the
 * text `objtool --dump=orc FILE` prints, for objects and linked images alike) and `stack
 * TASK|CPU` (a task's reliable stack trace on a stopped machine, symbolized kernel style, or
 * why it is not reliable).
 */
import { dumpOrcFile, orcUnwinder, type StackTrace, type UnwindOptions } from '../orc/index.ts';
import { imageSymbolizer, type Symbolizer, type Kernel, allTasks, cpuCurr, Task } from '../kernel/index.ts';

/** `orc dump FILE`: identical to `objtool --dump=orc FILE` of the objtool matching the file's ORC layout. */
export function orcDump(file: string): string {
  return dumpOrcFile(file);
}

/** Which stack `stack` shows: a task (view, pid or comm) or the task current on a cpu. */
export type StackTarget = Task | { pid: number } | { comm: string } | { cpu: number };

export class StackTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackTargetError';
  }
}

/** Parses a command-line target: "cpu2" / "cpu:2", a pid, or a comm. */
export function parseStackTarget(arg: string): StackTarget {
  const cpu = /^cpu:?(\d+)$/i.exec(arg);
  if (cpu) return { cpu: Number(cpu[1]) };
  if (/^\d+$/.test(arg)) return { pid: Number(arg) };
  return { comm: arg };
}

function resolve(k: Kernel, target: StackTarget): Task {
  if (target instanceof Task) return target;
  if ('cpu' in target) {
    if (!(target.cpu >= 0 && target.cpu < k.nrCpus)) throw new StackTargetError(`no cpu ${target.cpu} (the machine has ${k.nrCpus})`);
    return cpuCurr(k, target.cpu);
  }
  const tasks = allTasks(k);
  const found = 'pid' in target ? tasks.filter((t) => t.pid === target.pid) : tasks.filter((t) => t.comm === target.comm);
  if (!found.length) throw new StackTargetError(`no task ${'pid' in target ? `with pid ${target.pid}` : `called '${target.comm}'`}`);
  if (found.length > 1 && 'pid' in target && target.pid === 0)
    throw new StackTargetError("pid 0 is every cpu's idle task: name one as cpuN or swapper/N");
  return found[0];
}

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

/** Resolves a target on the booted machine; StackTargetError names what matches nothing. */
export function stackTask(kernel: Kernel, target: StackTarget): Task {
  return resolve(kernel, target);
}

/** `stack TASK|CPU`: the reliable stack trace of a task on the stopped machine, symbolized. */
export function stackReport(kernel: Kernel, target: StackTarget, opts: UnwindOptions & { maxEntries?: number } = {}): string {
  return formatTaskStack(taskStack(kernel, resolve(kernel, target), opts)).join('\n') + '\n';
}
