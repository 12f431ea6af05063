// SPDX-License-Identifier: GPL-2.0-or-later
// Loading and unloading ordinary modules on real firmware: the init runs in khostd, the code
// runs when the guest calls it, data and bss arrive as they should, exports bind modules
// together, and an unload runs the exit and gives every byte back.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { callGuest } from '../../src/kernel/hostcall.ts';
import { ModuleLoadError, type LoadedModule } from '../../src/kernel/modules.ts';
import { orcUnwinder } from '../../src/orc/unwind.ts';
import { ElfFile } from '../../src/elf/index.ts';
import { fixture, hostRegionHash, thrown, withModules } from './helpers.ts';

const run = (k: Parameters<Parameters<typeof withModules>[1]>[0], fn: bigint, ...args: bigint[]) =>
  k.host.run('call', callGuest(fn, ...args));

describe('module load and unload', () => {
  it('places the module, runs its init in khostd, and its code on the guest', async () => {
    await withModules({}, (k, ms) => {
      const freeBefore = k.hostMem.bytesFree;
      const regionBefore = hostRegionHash(k);
      const seqBefore = k.log.cursor();
      const m = ms.load(fixture('lab_mod_hello'));

      expect(m.name).toBe('lab_mod_hello');
      expect(m.state).toBe('LIVE');
      expect(ms.list().map((x) => x.name)).toEqual(['lab_mod_hello']);
      // regions: page-aligned, in order, inside host memory
      const { text, rodata, data, bss } = m.regions;
      expect(text.address).toBe(m.base);
      for (const r of [text, rodata, data, bss]) expect(r.address % 4096n).toBe(0n);
      expect(text.address < rodata.address && rodata.address < data.address && data.address < bss.address).toBe(true);
      expect(m.base >= k.hostMem.start && m.base + BigInt(m.size) <= k.hostMem.end).toBe(true);
      // the module, with its own struct module (name and state, for the guest) inside it
      expect(k.hostMem.bytesFree).toBe(freeBefore - BigInt(m.size));
      const st = m.guestStruct!.address;
      expect(m.contains(st)).toBe(true);
      expect(k.mem.cstring(st + BigInt(k.layout.offset('module', 'name')), 56)).toBe('lab_mod_hello');
      expect(k.mem.u32(st + BigInt(k.layout.offset('module', 'state')))).toBe(k.layout.constant('MODULE_STATE_LIVE'));

      // the init ran once, in khostd
      const hostd = k.tasks().find((t) => t.comm === 'khostd')!;
      const line = k.log.since(seqBefore).filter((e) => e.type === 'printk' && e.text === 'lab_mod_hello: loaded');
      expect(line).toHaveLength(1);
      expect(line[0].pid).toBe(hostd.pid);
      expect(k.log.messages().some((l) => l.endsWith('] lab_mod_hello: loaded'))).toBe(true);

      // init/exit come from module_init()/module_exit()
      expect(m.init).toBe(m.findSymbol('hello_init'));
      expect(m.exit).toBe(m.findSymbol('hello_exit'));
      expect(m.modinfo.get('license')).toEqual(['GPL']);
      expect([...m.exports.keys()].sort()).toEqual(['lab_hello_calls', 'lab_hello_greet']);

      // .data copied, .bss zeroed, code callable from the guest and touching both
      const calls = m.findSymbol('lab_hello_calls');
      expect(m.containsText(calls)).toBe(false);
      expect(calls >= bss.address && calls < bss.address + BigInt(bss.size)).toBe(true);
      expect(k.mem.u64(m.findSymbol('hello_base'))).toBe(100n);
      expect(k.mem.u64(calls)).toBe(0n);
      expect(run(k, m.findSymbol('lab_hello_greet'), 5n)).toBe(105n);
      expect(run(k, m.findSymbol('lab_hello_greet'), 7n)).toBe(107n);
      expect(k.mem.u64(calls)).toBe(2n);

      // unload: exit runs, everything goes back
      const hostdLines = k.log.cursor();
      ms.unload('lab_mod_hello');
      const exitLine = k.log.since(hostdLines).find((e) => e.type === 'printk' && e.text.startsWith('lab_mod_hello: unloaded'));
      expect(exitLine?.text).toBe('lab_mod_hello: unloaded after 2 calls');
      expect(exitLine?.pid).toBe(hostd.pid);
      expect(ms.list()).toEqual([]);
      expect(ms.isLoaded('lab_mod_hello')).toBe(false);
      expect(ms.moduleAt(m.base)).toBeUndefined();
      expect(k.hostMem.bytesFree).toBe(freeBefore);
      expect(hostRegionHash(k)).toBe(regionBefore);
      expect(orcUnwinder(k).isText(Number(text.address - k.mem.base))).toBe(false);
      expect(ms.symbolize(text.address)).toBe(`0x${text.address.toString(16)}`);

      // and it loads again, at the same place (first fit over the same free list)
      const again = ms.load(fixture('lab_mod_hello'));
      expect(again.base).toBe(m.base);
      expect(run(k, again.findSymbol('lab_hello_greet'), 1n)).toBe(101n);
    });
  });

  it('names a module from its struct module, resolves image statics and globals, and exposes lookups', async () => {
    await withModules({}, (k, ms) => {
      const m = ms.load(fixture('lab_mod_reloc'));
      expect(m.name).toBe('lab_mod_reloc');
      expect(m.file.endsWith('lab_mod_reloc.ko')).toBe(true);
      expect(k.log.messages().some((l) => l.endsWith('lab_reloc: loaded, 6*7=42'))).toBe(true);

      // bound to the image's static functions and a global
      expect(m.layout.imports.get('emit')?.target).toMatchObject({ owner: 'vmlinux', local: true, address: k.sym('emit') });
      expect(m.layout.imports.get('process_timeout')?.address).toBe(k.sym('process_timeout'));
      expect(m.layout.imports.get('jiffies')?.target).toMatchObject({ owner: 'vmlinux', local: false });

      const apply = m.findSymbol('lab_reloc_apply');
      // (a op b) * 3 through a pointer table in .rodata
      expect(run(k, apply, 0n, 6n, 5n)).toBe(33n);
      expect(run(k, apply, 1n, 6n, 5n)).toBe(3n);
      expect(run(k, apply, 2n, 6n, 5n)).toBe(90n);
      expect(run(k, apply, 3n, 6n, 5n)).toBe(9n);
      expect(run(k, m.findSymbol('lab_reloc_jiffies_addr'))).toBe(k.sym('jiffies'));
      expect(run(k, m.findSymbol('lab_reloc_static_addr'))).toBe(k.sym('process_timeout'));
      // jiffies read by the module equals jiffies as the host reads it right after
      expect(run(k, m.findSymbol('lab_reloc_jiffies'))).toBe(k.mem.u64(k.sym('jiffies')));
      const before = k.log.cursor();
      expect(run(k, m.findSymbol('lab_reloc_emit'), 41n)).toBe(42n);
      const emitted = k.log.since(before).find((e) => e.type === 'printk' && e.text.startsWith('lab_reloc: emitted'));
      expect(emitted).toMatchObject({ text: 'lab_reloc: emitted through a static function', a: 6, b: 41 });
      // the pointer table in .data: an image static, an image global, the module's own code
      const targets = m.findSymbol('lab_reloc_targets');
      expect([0n, 8n, 16n].map((o) => k.mem.u64(targets + o))).toEqual([k.sym('emit'), k.sym('jiffies'), m.findSymbol('op_add')]);

      // lookups the livepatch core and the symbolizer use
      const greet = m.findSymbol('op_mul');
      expect(ms.moduleAt(greet + 3n)).toBe(m);
      expect(ms.moduleAt(targets)).toBe(m);
      expect(ms.sizeAt(greet + 3n)).toBe(m.elf.findSymbol('op_mul').size);
      expect(ms.findSymbol('lab_mod_reloc', 'op_mul', 0)).toBe(greet);
      expect(ms.symbol('lab_reloc_targets')).toBe(targets);
      expect(ms.symbolize(greet + 4n)).toMatch(/^op_mul\+0x4\/0x[0-9a-f]+ \[lab_mod_reloc\]$/);
      expect(ms.symbolize(k.sym('emit') + 1n)).toMatch(/^emit\+0x1\//);
      expect(m.functionAt(greet + 1n)).toMatchObject({ name: 'op_mul', address: greet, type: 'func' });
      expect(m.symbolAt(targets + 8n)).toMatchObject({ name: 'lab_reloc_targets', type: 'object' });
    });
  });

  it('binds modules through exports and keeps a used module loaded', async () => {
    await withModules({}, (k, ms) => {
      // lab_mod_user needs lab_mod_hello's exports
      const missing = thrown(() => ms.load(fixture('lab_mod_user')));
      expect(missing.message).toContain("unknown symbol 'lab_hello_greet'");
      expect(missing.message).toContain("also unknown: 'lab_hello_calls'");

      const hello = ms.load(fixture('lab_mod_hello'));
      const user = ms.load(fixture('lab_mod_user'));
      expect(k.log.messages().some((l) => l.endsWith('lab_mod_user: loaded, greet twice=202 calls=2'))).toBe(true);
      expect(user.layout.imports.get('lab_hello_greet')?.target).toMatchObject({
        owner: 'lab_mod_hello',
        address: hello.findSymbol('lab_hello_greet'),
      });
      expect([...user.uses]).toEqual([hello]);
      expect([...hello.usedBy]).toEqual([user]);

      const busy = thrown(() => ms.unload('lab_mod_hello'));
      expect(busy).toBeInstanceOf(ModuleLoadError);
      expect((busy as ModuleLoadError).errno).toBe('EWOULDBLOCK');
      expect(busy.message).toContain('in use by: lab_mod_user');
      expect(hello.state).toBe('LIVE');

      // a reference (try_module_get) keeps it too
      ms.unload('lab_mod_user');
      expect(ms.get('lab_mod_hello')).toBe(true);
      expect((thrown(() => ms.unload('lab_mod_hello')) as ModuleLoadError).errno).toBe('EWOULDBLOCK');
      ms.put('lab_mod_hello');
      ms.unload('lab_mod_hello');
      expect(ms.get('lab_mod_hello')).toBe(false);
      expect(ms.list()).toEqual([]);
    });
  });

  it('refuses what the kernel refuses: a second load, a missing module, an unload without exit', async () => {
    await withModules({}, (_k, ms) => {
      ms.load(fixture('lab_mod_hello'));
      const twice = thrown(() => ms.load(fixture('lab_mod_hello'))) as ModuleLoadError;
      expect(twice.errno).toBe('EEXIST');
      expect(twice.code).toBe(-17);
      expect((thrown(() => ms.unload('nope')) as ModuleLoadError).errno).toBe('ENOENT');
      expect((thrown(() => ms.load(`${fixture('no_such_module')}`)) as ModuleLoadError).errno).toBe('ENOENT');

      // lab_reloc has an init but no exit: only a forced unload removes it
      const reloc: LoadedModule = ms.load(fixture('lab_mod_reloc'));
      expect(reloc.exit).toBeUndefined();
      const noExit = thrown(() => ms.unload('lab_mod_reloc')) as ModuleLoadError;
      expect(noExit.errno).toBe('EBUSY');
      expect(noExit.message).toContain('no exit function');
      ms.unload('lab_mod_reloc', { force: true });
      expect(ms.isLoaded('lab_mod_reloc')).toBe(false);

      // the same module under another file name is the same module: its struct module names it
      const dup = ms.load(fixture('lab_mod_dup'));
      expect(dup.exports.has('printf_put_num')).toBe(true);
      const copy = thrown(() => ms.load(ElfFile.parse(readFileSync(fixture('lab_mod_dup')), 'lab_mod_dup2.ko')));
      expect((copy as ModuleLoadError).errno).toBe('EEXIST');
      expect(copy.message).toContain("module 'lab_mod_dup' is already loaded");
      // an export that already exists elsewhere: the same object renamed (struct module and modinfo)
      const renamed = Buffer.from(
        readFileSync(fixture('lab_mod_dup')).toString('latin1').replaceAll('lab_mod_dup\0', 'lab_mod_du2\0'),
        'latin1',
      );
      const again = thrown(() => ms.load(ElfFile.parse(renamed, 'lab_mod_du2.ko')));
      expect((again as ModuleLoadError).errno).toBe('ENOEXEC');
      expect(again.message).toContain('exports duplicate symbol printf_put_num (owned by lab_mod_dup)');
    });
  });
});
