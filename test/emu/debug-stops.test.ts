// SPDX-License-Identifier: GPL-2.0-or-later
// A debugger's stops in the engines (src/emu/machine.ts, klp_hook_break/step/watch): they stop
// exactly where asked and leave the run as it was without them, bit for bit.
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import type { Kernel } from '../../src/kernel/index.ts';

const OPTS = { cpus: 3, workload: 'default', seed: 7 } as const;
const MS = 300;

function run(k: Kernel): { digest: string; insns: bigint } {
  k.machine.run({ ns: MS * 1e6 });
  return { digest: k.log.digest(), insns: k.machine.insns };
}

describe('debugger stops in the engines', () => {
  it('breakpoints, steps and watchpoints leave the run unchanged', async () => {
    const plain = await withKernel(OPTS, run);
    const hits = { bp: 0, step: 0, watch: 0 };
    const debugged = await withKernel(OPTS, (k) => {
      const m = k.machine;
      const schedule = k.sym('schedule');
      const jiffies = k.sym('jiffies');
      m.addBreakpoint(schedule);
      m.addWatchpoint(jiffies, 8, { read: false, write: true });
      let steps = 0;
      let want = -1n;
      m.onDebugStop = (s) => {
        const cpu = m.cpus[s.cpu];
        if (s.kind === 'watch') {
          expect(s.watch!.address).toBe(jiffies);
          hits.watch++;
        } else if (s.pc === schedule && cpu.ctl.breakAt === 0xffff_ffff_ffff_ffffn) hits.bp++;
        else {
          hits.step++;
          expect(cpu.insns).toBe(want); // exactly the count asked for
        }
        expect(cpu.rip).toBe(s.pc);
        // step cpu 1 a few instructions now and then: stop at each next count
        if (s.cpu === 1 && steps < 50) {
          steps++;
          want = cpu.insns + 1n;
          m.breakAtCount(1, want);
        } else if (s.cpu === 1) m.breakAtCount(1, null);
      };
      return run(k);
    });
    expect(hits.bp).toBeGreaterThan(10);
    expect(hits.watch).toBeGreaterThan(5);
    expect(hits.step).toBeGreaterThan(10);
    expect(debugged).toEqual(plain);
  });
});
