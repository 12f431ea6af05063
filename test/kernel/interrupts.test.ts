// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Interrupts on the real firmware: every online vCPU keeps taking its timer ticks however
 * quanta fall, and none is lost. A cpu woken from hlt by an interrupt at the very end of its
 * quantum used to be reported as halted while it stood in the handler with IF clear, which the
 * machine took for a dead cpu: its idle task "running" for good, tasks stranded on its queue.
 */
import { describe, expect, it } from 'vitest';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import { KernelOops } from '../../src/kernel/kernel.ts';
import { withKernel } from '../helpers.ts';

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
        expect(
          k.machine.cpus.filter((c) => c.dead).map((c) => c.index),
          `dead cpus after ${step + 1}00 ms`,
        ).toEqual([]);
        // 10 ticks per 100 ms; a cpu may miss one that came while it had interrupts off
        expect(
          now.map((n, i) => n - before[i] >= 9),
          `ticks per cpu in 100 ms: ${now.map((n, i) => n - before[i])}`,
        ).toEqual(now.map(() => true));
        before = now;
      }
    });
  });
});

describe('a cpu halted with interrupts off while online', () => {
  it('stops the run with an oops naming the hard lockup, and the log counts a lost cpu', async () => {
    await withKernel({ cpus: 2, workload: 'idle' }, (k) => {
      k.runFor(50);
      const code = k.hostMem.alloc(16, 16, 'cli; hlt');
      k.machine.writeCode(code, Uint8Array.from([0xfa, 0xf4, 0xc3])); // cli; hlt; ret
      function* lockup(): HostTask<void> {
        yield* callGuest(code);
      }
      let oops: KernelOops | undefined;
      try {
        k.host.run('lockup', lockup());
      } catch (e) {
        if (!(e instanceof KernelOops)) throw e;
        oops = e;
      }
      expect(oops?.fault.message).toMatch(/^cpu \d: hard LOCKUP: halted with interrupts disabled while online/);
      expect(k.machine.lostCpus).toEqual([oops!.fault.cpu]);
      const c = k.log.counters();
      expect([c.oopses, c.lostCpus]).toEqual([1, 1]);
    });
  });
});
