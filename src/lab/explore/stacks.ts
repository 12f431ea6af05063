// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The tasks of a violation as a report names them: pid, comm and the symbolized reliable stack
 * trace (innermost first), taken on the stopped machine when the violation is seen -- later the
 * task may have moved on or exited.
 */
import type { Task } from '../../kernel/index.ts';
import { orcUnwinder } from '../../orc/index.ts';
import type { Lab } from '../selftest.ts';
import type { ViolationTask } from '../violation.ts';

export function violationTask(lab: Lab, task: Task): ViolationTask {
  const sym = lab.modules.symbolizer;
  const trace = orcUnwinder(lab.k).trace(task, 64);
  const stack = trace.entries.map((e, i) => (trace.exact[i] ? sym.symbolize(e) : sym.symbolizeReturn(e)));
  if (!trace.reliable) stack.push(`(unreliable: ${trace.message})`);
  return { pid: task.pid, comm: task.comm, stack };
}
