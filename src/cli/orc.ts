// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ORC pieces of the command line, as functions the main CLI calls: `orc dump FILE` (the
 * text `objtool --dump=orc FILE` prints, for objects and linked images alike) and `stack
 * TASK|CPU` (a task's reliable stack trace on a stopped machine, symbolized kernel style, or
 * why it is not reliable).
 */
import { dumpOrcFile, formatTaskStack, taskStack, type UnwindOptions } from '../orc/index.ts';
import { type Kernel, allTasks, cpuCurr, Task } from '../kernel/index.ts';

// a task's stack as the reports show it lives with the unwinder, below the lab's checker
export { formatTaskStack, formatTrace, taskStack, type TaskStack } from '../orc/index.ts';

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

/** Resolves a target on the booted machine; StackTargetError names what matches nothing. */
export function stackTask(kernel: Kernel, target: StackTarget): Task {
  return resolve(kernel, target);
}

/** `stack TASK|CPU`: the reliable stack trace of a task on the stopped machine, symbolized. */
export function stackReport(kernel: Kernel, target: StackTarget, opts: UnwindOptions & { maxEntries?: number } = {}): string {
  return formatTaskStack(taskStack(kernel, resolve(kernel, target), opts)).join('\n') + '\n';
}
