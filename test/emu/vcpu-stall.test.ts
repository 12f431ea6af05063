// SPDX-License-Identifier: GPL-2.0-or-later
// A vCPU held up at an exact instruction (Machine.stallAt, a hypervisor's preemption of a
// vCPU): it stops before the nth execution of the address, runs nothing while the clock
// advances by the stall, the others go on, and then it resumes where it stood; same stall, same run.
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';

const OPTS = { cpus: 2, workload: 'default', seed: 3 } as const;

describe('a vCPU stall', () => {
  it('holds one vCPU before the nth execution of an address for its time, the others running', async () => {
    const seen = await withKernel(OPTS, (k) => {
      const m = k.machine;
      const at = k.sym('schedule');
      m.run({ ns: 100e6 });
      // a debugger's breakpoint at the same address counts the executions the stall lets pass
      m.addBreakpoint(at);
      let passed = 0;
      m.onDebugStop = (s) => {
        if (s.cpu === 1) passed++;
      };
      let start: { clock: number; insns: bigint; rip: bigint } | undefined;
      m.stallAt({
        cpu: 1,
        address: at,
        nth: 3,
        ns: 50e6,
        onStall: () => (start = { clock: m.clockNs, insns: m.cpus[1].insns, rip: m.cpus[1].rip }),
      });
      m.run({ ns: 200e6, until: () => start !== undefined });
      expect(start).toBeDefined();
      expect(passed).toBe(2);
      expect(start!.rip).toBe(at);
      const other = m.cpus[0].insns;
      expect(m.stallEndNs).toBe(start!.clock + 50e6);
      m.run({ ns: 45e6 });
      // held: not one instruction, still before the same one; cpu 0 went on
      expect(m.cpus[1].insns).toBe(start!.insns);
      expect(m.cpus[1].rip).toBe(at);
      expect(m.cpus[0].insns).toBeGreaterThan(other);
      m.run({ ns: 20e6 });
      expect(m.stallEndNs).toBe(0);
      expect(m.cpus[1].insns).toBeGreaterThan(start!.insns);
      // the breakpoint goes on stopping there; the stall, once over, is gone
      expect(passed).toBeGreaterThan(2);
      return start!.clock;
    });
    expect(seen).toBeGreaterThan(100e6);
  });

  it('is deterministic: the same stall gives the same run, another run than without it', async () => {
    const run = (stall: boolean) =>
      withKernel(OPTS, (k) => {
        const m = k.machine;
        m.run({ ns: 100e6 });
        let clock = 0;
        if (stall) m.stallAt({ cpu: 1, address: k.sym('schedule'), nth: 3, ns: 50e6, onStall: () => (clock = m.clockNs) });
        m.run({ ns: 300e6 });
        return { digest: k.log.digest(), insns: m.insns, clock };
      });
    const a = await run(true);
    expect(a.clock).toBeGreaterThan(0);
    expect(await run(true)).toEqual(a);
    expect((await run(false)).insns).not.toBe(a.insns);
  });

  it('refuses an nth below 1', async () => {
    await withKernel(OPTS, (k) => {
      expect(() => k.machine.stallAt({ cpu: 0, address: k.sym('schedule'), nth: 0, ns: 1e6 })).toThrow(/nth must be 1 or more/);
    });
  });
});
