// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * preempt=full and the idle task. The idle loop runs with preemption disabled, as Linux's does:
 * an interrupt that returns to it (a wakeup's reschedule IPI, the host's nudge to an idle cpu)
 * must not preempt it. Otherwise the IPI's NEED_RESCHED is used up by preempt_schedule_irq(),
 * the loop never reaches schedule_idle() and its switch point, and an idle task switched out
 * from an interrupt has an unreliable stack: no transition could finish on an idle or CPU-bound
 * machine. Here it finishes, on one vCPU and on four, with no idle task found unreliable.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { idleTask } from '../../src/kernel/task.ts';
import { KLP_UNDEFINED } from '../../src/livepatch/structs.ts';

const boot = useLab({}, { start: false });

const LP = 'test_klp_livepatch';

describe.each(['idle', 'cpu-bound'] as const)('preempt=full, workload %s', (workload) => {
  it.each([1, 4])(
    'a transition completes on %i vCPUs, every idle task with a reliable stack',
    async (cpus) => {
      const lab = await boot({ cpus, workload, preempt: 'full', seed: 1 });
      const { k } = lab;
      k.runFor(100);
      lab.startTest();
      lab.loadLpNowait(LP);
      // well past the core's retries and its fake signals (a second apart)
      lab.waitForTransition(LP, 5000);
      expect(lab.cat('cmdline_proc_show')).toBe(`${LP}: this has been live patched\n`);
      for (let c = 0; c < cpus; c++) expect(idleTask(k, c).patchState, `idle ${c}`).toBe(KLP_UNDEFINED);
      expect(lab.logSinceStart().filter((l) => /swapper\/\d+:0 has an unreliable stack/.test(l))).toEqual([]);
      // and back, the same way
      lab.disableLp(LP);
      expect(lab.logSinceStart().filter((l) => /swapper\/\d+:0 has an unreliable stack/.test(l))).toEqual([]);
    },
    60_000,
  );
});
