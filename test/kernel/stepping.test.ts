// SPDX-License-Identifier: GPL-2.0-or-later
// Single-stepping a vCPU and running it to an address, with exact instruction counts.
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { disassemble } from '../../src/emu/disasm.ts';

describe('vCPU stepping', () => {
  it('steps one instruction at a time and runs to an address', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      k.runFor(50);
      const m = k.machine;
      const cpu = m.cpus[1];
      for (let i = 0; i < 20; i++) {
        const rip = cpu.rip;
        const [insn] = disassemble(k.mem.bytes(rip, 16), rip, 1);
        const n = cpu.insns;
        m.step(1);
        expect(cpu.insns).toBe(n + 1n);
        // straight-line code moves by the instruction's length; control transfers elsewhere
        if (!/^(j|call|ret|iret|int|hlt|cmov|loop)/.test(insn.mnemonic)) expect(cpu.rip).toBe(rip + BigInt(insn.size));
      }
      const probe = k.sym('lab_probe');
      m.runCpuUntil(1, probe, 100_000);
      expect(cpu.rip).toBe(probe);
      expect(() => m.runCpuUntil(1, 0xffffffff81000000n + 1n, 1000)).toThrow(/did not reach 0xffffffff81000001 within 1000 instructions/);
      // the stepping hooks are gone: the machine runs on normally
      const calls = () => k.mem.u64(k.sym('probe_calls') + 8n);
      const before = calls();
      expect(k.runFor(100).stopped).toBeUndefined();
      expect(calls()).toBeGreaterThan(before + 100n);
    });
  });
});
