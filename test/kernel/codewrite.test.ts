// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Rewriting a function every vCPU has already executed: a plain memory write is not seen by
 * engines that translated the old code; Machine.writeCode() drops the translations on every
 * vCPU and the new code runs everywhere.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { s32At } from './helpers.ts';
import { disassemble, loadDisassembler } from '../../src/emu/disasm.ts';

describe('code writes', () => {
  it('take effect on every vCPU through writeCode', async () => {
    await loadDisassembler();
    await withKernel({ cpus: 4, workload: 'probe' }, (k) => {
      const probe = k.sym('lab_probe');
      const [site] = disassemble(k.mem.bytes(probe, 5), probe, 1);
      expect([...site.bytes]).toEqual([0x0f, 0x1f, 0x44, 0x00, 0x00]); // the fentry NOP
      const seen = () => [0, 1, 2, 3].map((c) => s32At(k, 'probe_seen', c));
      k.run({ ns: 500e6, until: () => seen().every((v) => v === 1) });
      expect(seen()).toEqual([1, 1, 1, 1]);

      // mov $3, %eax; ret -- written behind the engines' backs
      k.mem.write(probe + 5n, Uint8Array.from([0xb8, 3, 0, 0, 0, 0xc3]));
      k.runFor(100);
      expect(seen()).toEqual([1, 1, 1, 1]);

      // mov $2, %eax; ret -- through the code-write primitive
      k.machine.writeCode(probe + 5n, Uint8Array.from([0xb8, 2, 0, 0, 0, 0xc3]));
      k.runFor(100);
      expect(seen()).toEqual([2, 2, 2, 2]);
      expect(k.machine.cpus.every((c) => c.ctl.unmapped === 0n)).toBe(true);
    });
  });
});
