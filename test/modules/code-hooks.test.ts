// SPDX-License-Identifier: GPL-2.0-or-later
// The module loader knows nothing of ORC: the unwinder (or any keeper of tables over module
// code) subscribes to it with a code hook. A hook reads its table before any guest byte is
// written, so its refusal leaves RAM as it was; it is told of the module at commit, before
// the COMING notifiers, and told again when the module goes.
import { describe, expect, it } from 'vitest';
import { KernelOops } from '../../src/kernel/kernel.ts';
import { ModuleFormatError } from '../../src/elf/module.ts';
import { fixture, ramHash, thrown, withModules } from './helpers.ts';
import { withKernel } from '../helpers.ts';

describe('module code hooks', () => {
  it('prepare before any guest byte, add before COMING, remove when the module goes', async () => {
    await withModules({}, (_k, ms) => {
      const seen: string[] = [];
      ms.onComing((m) => void seen.push(`coming ${m.name}`));
      const off = ms.addCodeHook({
        prepare: (layout) => {
          seen.push(`prepare ${layout.name}`);
          return layout.regions.text.size;
        },
        add: (m, size) => void seen.push(`add ${m.name} ${size === m.text.size}`),
        remove: (m) => void seen.push(`remove ${m.name}`),
      });
      ms.load(fixture('lab_mod_hello'));
      expect(seen.filter((s) => !s.startsWith('prepare'))).toEqual(['add lab_mod_hello true', 'coming lab_mod_hello']);
      expect(seen.indexOf('prepare lab_mod_hello')).toBe(0);
      ms.unload('lab_mod_hello');
      expect(seen.at(-1)).toBe('remove lab_mod_hello');
      off();
      seen.length = 0;
      ms.load(fixture('lab_mod_hello'));
      expect(seen).toEqual(['coming lab_mod_hello']);
    });
  });

  it('a hook that refuses a module leaves guest memory untouched and registers nothing', async () => {
    await withModules({}, (k, ms) => {
      ms.addCodeHook({
        prepare: (layout) => {
          throw new ModuleFormatError(layout.file, 'table refused by the test');
        },
        add: () => {
          throw new Error('add after a refusal');
        },
        remove: () => {},
      });
      const before = ramHash(k);
      const e = thrown(() => ms.load(fixture('lab_mod_hello')));
      expect(e).toBeInstanceOf(ModuleFormatError);
      expect(e.message).toMatch(/lab_mod_hello\.ko.*table refused by the test/);
      expect(ramHash(k)).toBe(before);
      expect(ms.list()).toHaveLength(0);
    });
  });

  it('a hook added late is told of the modules already there', async () => {
    await withModules({}, (_k, ms) => {
      ms.load(fixture('lab_mod_hello'));
      const added: string[] = [];
      ms.addCodeHook({ prepare: () => 0, add: (m) => void added.push(m.name), remove: () => {} });
      expect(added).toEqual(['lab_mod_hello']);
    });
  });
});

describe('reports are handed their unwinder', () => {
  it('an oops on a kernel nobody gave an unwinder has no call trace, and says so', async () => {
    await withKernel(
      { cpus: 2, workload: 'null-deref' },
      (k) => {
        const oops = thrown(() => k.runFor(1000));
        expect(oops).toBeInstanceOf(KernelOops);
        expect((oops as KernelOops).report).toMatch(/^Call Trace: unavailable \(no unwinder\)$/m);
        expect((oops as KernelOops).report).toMatch(/RIP: 0010:lab_fault_null\+/);
      },
      { unwinder: false },
    );
  });
});
