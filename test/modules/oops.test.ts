// SPDX-License-Identifier: GPL-2.0-or-later
// An oops in module code: the report names the module's functions in RIP, the call trace and
// the disassembly, and lists the modules linked in.
import { describe, expect, it } from 'vitest';
import { KernelOops } from '../../src/kernel/kernel.ts';
import { fixture, withModules } from './helpers.ts';

describe('oops in a module', () => {
  it('symbolizes module frames, kernel style', () =>
    withModules({}, (_k, ms) => {
      ms.load(fixture('lab_mod_hello'));
      let oops: KernelOops | undefined;
      try {
        ms.load(fixture('lab_mod_oops'), { crash: '1' });
      } catch (e) {
        if (!(e instanceof KernelOops)) throw e;
        oops = e;
      }
      expect(oops).toBeDefined();
      const lines = oops!.report.split('\n');
      expect(lines).toContain('BUG: unable to handle page fault for address: 0000000000000000');
      expect(lines.find((l) => l.startsWith('RIP: '))).toMatch(/^RIP: 0010:lab_oops_deref\+0x[0-9a-f]+\/0x[0-9a-f]+ \[lab_mod_oops\]$/);
      expect(lines).toContain('Modules linked in: lab_mod_hello lab_mod_oops');
      // the init, called by khostd, called two module functions
      const trace = lines.slice(lines.indexOf('Call Trace:') + 1).filter((l) => l.startsWith(' '));
      const names = trace.map((l) => l.trim().split('+')[0]);
      expect(names.slice(0, 3)).toEqual(['lab_oops_deref', 'lab_oops_work', 'lab_mod_oops_init']);
      expect(trace[1]).toMatch(/ \[lab_mod_oops\]$/);
      expect(names).toContain('hostd');
      expect(lines.some((l) => /^=> lab_oops_deref\+0x[0-9a-f]+ +mov/.test(l))).toBe(true);
    }));
});
