// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * INTERIM, TO BE REPLACED by src/lab/checker.ts's attachConsistencyChecker when it is merged:
 * the smallest checker the explorer can be developed and tested with. It watches only what
 * the run's end and the kernel log tell -- a guest WARNING (the core's "still has
 * TIF_PATCH_PENDING" among them), an oops, panic or lockup, and a task still pending or with a
 * patch state once no transition is left -- which is enough for the fork race of 747f7a29.
 * It reads, never writes: a run watched by it has the log of a run watched by nobody.
 */
import { allTasks, type Task } from '../../kernel/index.ts';
import { KLP_UNDEFINED } from '../../livepatch/index.ts';
import type { Lab } from '../selftest.ts';
import type { CheckerFactory, LabChecker, Violation } from '../violation.ts';
import { violationTask } from './stacks.ts';

/** "comm:pid" as Task.toString() writes it in the core's messages. */
const TASK_REF = /(\S+):(\d+)\b/g;

function tasksNamedIn(lab: Lab, text: string): Task[] {
  const all = allTasks(lab.k);
  const out: Task[] = [];
  for (const m of text.matchAll(TASK_REF)) {
    const t = all.find((x) => x.pid === Number(m[2]) && x.comm === m[1]);
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

export const attachInterimChecker: CheckerFactory = (lab: Lab): LabChecker => {
  const log = lab.k.log;
  const at = log.counters();
  let seen: Violation | undefined;

  const fromCounters = (): Violation | undefined => {
    const c = log.counters();
    const tsNs = lab.k.machine.clockNs;
    if (c.oopses > at.oopses || c.panics > at.panics) {
      const kind = c.lostCpus > at.lostCpus ? 'lockup' : c.panics > at.panics ? 'panic' : 'oops';
      return { kind, message: `the guest stopped with ${kind === 'lockup' ? 'a hard lockup' : `a ${kind}`}`, tsNs, tasks: [] };
    }
    if (c.warnings > at.warnings) {
      // the first warning since attach: counters keep the first ones of the whole run
      const text = (c.firstWarnings[at.warnings] ?? c.lastWarning ?? 'WARNING').replace(/^\[[^\]]*\]\s*/, '');
      return { kind: 'warning', message: text, tsNs, tasks: tasksNamedIn(lab, text).map((t) => violationTask(lab, t)) };
    }
    return undefined;
  };

  return {
    poll() {
      return (seen ??= fromCounters());
    },
    finish() {
      if ((seen ??= fromCounters())) return seen;
      if (lab.k.machine.stopped || lab.lp.transitionPatch) return undefined;
      const stale = allTasks(lab.k).filter((t) => t.testTifFlag('TIF_PATCH_PENDING') || t.patchState !== KLP_UNDEFINED);
      if (stale.length)
        seen = {
          kind: 'pending-at-rest',
          message: `${stale.map(String).join(', ')} still ${stale[0].testTifFlag('TIF_PATCH_PENDING') ? 'pending' : 'with a patch state'} with no transition left`,
          tsNs: lab.k.machine.clockNs,
          tasks: stale.slice(0, 8).map((t) => violationTask(lab, t)),
        };
      return seen;
    },
    detach() {},
  };
};
