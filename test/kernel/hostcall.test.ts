// SPDX-License-Identifier: GPL-2.0-or-later
// Host work in task context: khostd runs what the host queues, calling guest functions the
// host asks for and handing back their results.
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { crunchStep } from './helpers.ts';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import { findTaskByPid } from '../../src/kernel/task.ts';

describe('host work', () => {
  it('runs in khostd and calls guest code', async () => {
    await withKernel({ cpus: 2, workload: 'default' }, (k) => {
      k.runFor(100);
      let ranIn = '';
      function* work(): HostTask<bigint> {
        const a = yield* callGuest(k.sym('lab_probe'));
        // crunch_step(x) is a pure function of its argument: check the argument got there
        const b = yield* callGuest(k.sym('crunch_step'), 12345n);
        const cur = k.machine.cpus.map((_, i) => k.cpuCurr(i)).find((t) => t.comm === 'khostd');
        ranIn = cur?.comm ?? '';
        return a * 1000n + (b & 0xffn);
      }
      expect(k.host.run('probe', work())).toBe(1000n + (crunchStep(12345n) & 0xffn));
      expect(ranIn).toBe('khostd');
      // errors thrown by host code reach the caller; khostd goes on serving
      function* failing(): HostTask<never> {
        yield* callGuest(k.sym('lab_probe'));
        throw new Error('boom');
      }
      expect(() => k.host.run('failing', failing())).toThrow('boom');
      function* fine(): HostTask<number> {
        return 7;
      }
      expect(k.host.run('fine', fine())).toBe(7);
      const hostd = [...k.forEachTask()].find((t) => t.comm === 'khostd')!;
      expect(findTaskByPid(k, hostd.pid)?.stateChar).toMatch(/[RS]/);
    });
  });
});
