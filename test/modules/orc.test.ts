// SPDX-License-Identifier: GPL-2.0-or-later
// A task asleep inside module code is unwound reliably through the module's own ORC, as the
// livepatch consistency model needs for patches of module functions: khostd calls a module
// function that sleeps two module frames deep, and the host unwinds it mid-sleep.
import { describe, expect, it } from 'vitest';
import { callGuest } from '../../src/kernel/hostcall.ts';
import { orcUnwinder, stackTraceSaveTskReliable } from '../../src/orc/unwind.ts';
import { fixture, withModules } from './helpers.ts';

describe('ORC through module code', () => {
  it('unwinds a task sleeping in a module reliably, frame by frame', async () => {
    await withModules({ workload: 'default' }, (k, ms) => {
      const m = ms.load(fixture('lab_mod_hello'));
      // the unwinder followed the load: the module's text, first byte to last, has ORC
      const u = orcUnwinder(k);
      expect(u.isText(Number(m.text.address - k.mem.base))).toBe(true);
      expect(u.isText(Number(m.text.address + BigInt(m.text.size) - 1n - k.mem.base))).toBe(true);
      expect(u.isText(Number(m.findSymbol('hello_nap') - k.mem.base))).toBe(true);

      const hostd = k.tasks().find((t) => t.comm === 'khostd')!;
      const work = k.host.submit('nap', callGuest(m.findSymbol('lab_hello_sleep'), 200n));
      k.run({ ns: 100e6, until: () => hostd.stateChar === 'D' });
      expect(hostd.stateChar).toBe('D');

      const trace = stackTraceSaveTskReliable(k, hostd);
      expect(trace.reliable).toBe(true);
      const frames = trace.entries.map((a) => ms.symbolizer.symbolizeReturn(a));
      const nap = frames.findIndex((f) => /^hello_nap\+0x[0-9a-f]+\/0x[0-9a-f]+ \[lab_mod_hello\]$/.test(f));
      expect(nap, frames.join('\n')).toBeGreaterThan(0);
      // msleep (or what it called) above, the module's caller below, then khostd's own code
      expect(frames.slice(0, nap).some((f) => f.startsWith('msleep+'))).toBe(true);
      expect(frames[nap + 1]).toMatch(/^lab_hello_sleep\+0x[0-9a-f]+\/0x[0-9a-f]+ \[lab_mod_hello\]$/);
      expect(frames[nap + 2]).toMatch(/^host_call\+/);
      expect(frames.some((f) => f.startsWith('hostd+'))).toBe(true);
      // each module frame's return address follows a call in the module's text
      for (const a of trace.entries.slice(nap, nap + 2)) expect(m.containsText(a)).toBe(true);

      k.run({ ns: 1e9, until: () => work.state === 'done' });
      expect(work.state).toBe('done');
      expect(work.value).toBe(1n); // lab_hello_calls + 1

      // after the unload the same addresses are no longer text
      ms.unload('lab_mod_hello');
      expect(u.isText(Number(m.findSymbol('hello_nap') - k.mem.base))).toBe(false);
    });
  });
});
