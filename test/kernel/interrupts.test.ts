// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Interrupts on the real firmware: every online vCPU keeps taking its timer ticks however
 * quanta fall, and none is lost. A cpu woken from hlt by an interrupt at the very end of its
 * quantum used to be reported as halted while it stood in the handler with IF clear, which the
 * machine took for a dead cpu: its idle task "running" for good, tasks stranded on its queue.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from './helpers.ts';

describe('timer ticks reach every online cpu', () => {
  it.each([
    { cpus: 4, quantum: 150, seed: 2 },
    { cpus: 16, quantum: 150, seed: 1 },
  ])('fork workload, $cpus vCPUs, quantum $quantum, seed $seed: no cpu is lost', async (opts) => {
    await withKernel({ workload: 'fork', ...opts }, (k) => {
      const timer = k.layout.constant('TIMER_VECTOR');
      const ticks = () => k.machine.cpus.map((c) => c.delivered(timer));
      k.runFor(100); // every cpu online
      let before = ticks();
      for (let step = 0; step < 10; step++) {
        k.runFor(100);
        const now = ticks();
        expect(k.machine.cpus.filter((c) => c.dead).map((c) => c.index), `dead cpus after ${step + 1}00 ms`).toEqual([]);
        // 10 ticks per 100 ms; a cpu may miss one that came while it had interrupts off
        expect(now.map((n, i) => n - before[i] >= 9), `ticks per cpu in 100 ms: ${now.map((n, i) => n - before[i])}`).toEqual(now.map(() => true));
        before = now;
      }
    });
  });
});
