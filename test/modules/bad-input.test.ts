// SPDX-License-Identifier: GPL-2.0-or-later
// Modules that must not load, on real firmware: each failure is a typed error naming the file,
// the section, the offset and the symbol, and leaves every byte of guest RAM as it was (the
// machine does not even run).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/elf/index.ts';
import {
  layoutModule,
  planModule,
  UNKNOWN_NAMES_SHOWN,
  ModuleFormatError,
  RelocationOverflowError,
  UnresolvedSymbolError,
  type ModuleError,
} from '../../src/elf/module.ts';
import { DEFAULT_IMAGE } from '../../src/kernel/boot.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { ModuleLoadError, type Modules } from '../../src/kernel/modules.ts';
import { fixture, ramHash, scratch, thrown, withAddend, withModules } from './helpers.ts';

/**
 * Loads `what` expecting a failure; checks nothing in the guest or the registry changed. Free
 * host memory is dirtied first where the module would go (as a block released by its owner
 * without being cleared), so a load that allocated and zeroed it would show.
 */
function refused(k: Kernel, ms: Modules, what: string | ElfFile): ModuleError {
  const dirty = k.hostMem.alloc(0x10000, 4096, 'dirt');
  k.mem.bytes(dirty, 0x10000).fill(0xa5);
  k.hostMem.release(dirty);
  const ram = ramHash(k);
  const rounds = k.machine.rounds;
  const free = k.hostMem.bytesFree;
  const names = ms.list().map((m) => m.name);
  const e = thrown(() => ms.load(what)) as ModuleError;
  expect(ramHash(k)).toBe(ram);
  expect(k.machine.rounds).toBe(rounds);
  expect(k.hostMem.bytesFree).toBe(free);
  expect(ms.list().map((m) => m.name)).toEqual(names);
  return e;
}

describe('modules that must not load', () => {
  it('an undefined symbol', async () => {
    await withModules({}, (k, ms) => {
      const e = refused(k, ms, fixture('lab_mod_unresolved'));
      expect(e).toBeInstanceOf(UnresolvedSymbolError);
      expect(e.errno).toBe('ENOENT');
      expect((e as UnresolvedSymbolError).symbol).toBe('lab_no_such_function');
      expect(e.message).toMatch(
        /lab_mod_unresolved\.ko: section \[\d+\] \.text\.lab_unresolved_call\+0x[0-9a-f]+: unknown symbol 'lab_no_such_function' \(-ENOENT\)$/,
      );
    });
  });

  it('a name both an image static and a module export define', async () => {
    await withModules({}, (k, ms) => {
      // alone, printf_put_num is kernel/lib.c's static: the module loads and binds to it
      const alone = ms.load(fixture('lab_mod_ambiguous'));
      expect(alone.layout.imports.get('printf_put_num')?.target).toMatchObject({
        owner: 'vmlinux',
        local: true,
        address: k.sym('printf_put_num'),
      });
      ms.unload('lab_mod_ambiguous');
      // once lab_mod_dup exports a printf_put_num of its own, the name has two candidates
      const dup = ms.load(fixture('lab_mod_dup'));
      const e = refused(k, ms, fixture('lab_mod_ambiguous')) as UnresolvedSymbolError;
      expect(e).toBeInstanceOf(UnresolvedSymbolError);
      expect(e.reason).toBe('ambiguous');
      expect(e.errno).toBe('EINVAL');
      expect(e.candidates.map((c) => [c.owner, c.address])).toEqual([
        ['vmlinux', k.sym('printf_put_num')],
        ['lab_mod_dup', dup.findSymbol('printf_put_num')],
      ]);
      const hex = (v: bigint) => `0x${v.toString(16)}`;
      expect(e.message).toContain(
        `symbol 'printf_put_num' is ambiguous: 2 candidates at ${hex(k.sym('printf_put_num'))} (vmlinux, local), ${hex(dup.findSymbol('printf_put_num'))} [lab_mod_dup]`,
      );
      expect(e.message).toMatch(/lab_mod_ambiguous\.ko: section \[\d+\] \.text\.lab_ambiguous_call\+0x[0-9a-f]+: /);
    });
  });

  it('a PC32 and a 32S that overflow (addends patched out of range)', async () => {
    await withModules({}, (k, ms) => {
      const jiffies = k.sym('jiffies');
      const pc = withAddend(fixture('lab_mod_reloc'), '.text.lab_reloc_jiffies', 'jiffies', 0x100000000n - 4n);
      const e1 = refused(k, ms, pc.elf) as RelocationOverflowError;
      expect(e1).toBeInstanceOf(RelocationOverflowError);
      expect(e1.relocation).toMatchObject({ typeName: 'R_X86_64_PC32', symbol: 'jiffies', offset: 8n, addend: 0xfffffffcn });
      expect(e1.message).toMatch(
        /lab_mod_reloc\.ko: section \[\d+\] \.text\.lab_reloc_jiffies\+0x8: R_X86_64_PC32 against 'jiffies' \+ 0xfffffffc: value 0x[0-9a-f]+ does not fit: the field holds \[-0x80000000, 0x7fffffff\] \(relocation overflow\) \(-ENOEXEC\)$/,
      );
      expect(e1.min).toBe(-0x80000000n);
      expect(e1.max).toBe(0x7fffffffn);

      // jiffies - 2 GiB is below the top 2 GiB, which is all a sign-extended 32-bit field reaches
      const s32 = withAddend(fixture('lab_mod_reloc'), '.text.lab_reloc_jiffies_addr', 'jiffies', -0x80000000n);
      const e2 = refused(k, ms, s32.elf) as RelocationOverflowError;
      expect(e2).toBeInstanceOf(RelocationOverflowError);
      expect(e2.value).toBe(BigInt.asIntN(64, jiffies - 0x80000000n));
      expect(e2.message).toContain(
        `R_X86_64_32S against 'jiffies' - 0x80000000: value -0x${(-e2.value).toString(16)} does not fit: the field holds [-0x80000000, 0x7fffffff]`,
      );

      // the unpatched object still loads
      expect(ms.load(fixture('lab_mod_reloc')).state).toBe('LIVE');
    });
  });

  it('a relocation that overflows at one address and fits at another', async () => {
    await withModules({}, (k, ms) => {
      // PC32 at .text.lab_reloc_jiffies+8: value = jiffies + A - P. Choose A so that the value
      // is 2^31 (one too many) when the module sits at the first free address of host memory.
      const plain = ElfFile.read(fixture('lab_mod_reloc'));
      const plan = planModule(plain);
      const sec = plan.sections.find((s) => s.section.name === '.text.lab_reloc_jiffies')!;
      const lowest = k.hostMem.start; // page-aligned, and nothing allocated yet
      const A = BigInt.asIntN(64, 2n ** 31n - k.sym('jiffies') + lowest + BigInt(sec.offset) + 8n);
      const patched = withAddend(fixture('lab_mod_reloc'), '.text.lab_reloc_jiffies', 'jiffies', A);
      const e = refused(k, ms, patched.elf) as RelocationOverflowError;
      expect(e).toBeInstanceOf(RelocationOverflowError);
      expect(e.value).toBe(2n ** 31n);
      // with another module below it, the same object lands higher and its value fits
      ms.load(fixture('lab_mod_hello'));
      const m = ms.load(withAddend(fixture('lab_mod_reloc'), '.text.lab_reloc_jiffies', 'jiffies', A).elf);
      expect(m.base).toBeGreaterThan(lowest);
      const r = m.layout.relocations.find((x) => x.symbol === 'jiffies' && x.section.name === '.text.lab_reloc_jiffies')!;
      expect(r.value).toBe(2n ** 31n - (m.base - lowest));
      expect(BigInt(k.mem.s32(r.place))).toBe(r.value);
    });
  });

  it('a truncated object, and a file that is not a relocatable object', async () => {
    const tmp = scratch();
    try {
      await withModules({}, (k, ms) => {
        const bytes = readFileSync(fixture('lab_mod_hello'));
        const cuts = [10, 64, 0x100, Math.floor(bytes.length / 2), bytes.length - 100];
        for (const cut of cuts) {
          const path = join(tmp.dir, `cut${cut}`, 'lab_mod_hello.o');
          mkdirSync(dirname(path));
          writeFileSync(path, bytes.subarray(0, cut));
          const e = refused(k, ms, path);
          expect(e, `cut at ${cut}`).toBeInstanceOf(ModuleFormatError);
          expect(e.errno).toBe('ENOEXEC');
          expect(e.message.startsWith(`${path}: `)).toBe(true);
          expect(e.message, `cut at ${cut}`).toMatch(/truncated|past end|too (short|small)|shorter/);
        }
        const image = refused(k, ms, DEFAULT_IMAGE);
        expect(image).toBeInstanceOf(ModuleFormatError);
        expect(image.message).toBe(`${DEFAULT_IMAGE}: not a relocatable object (e_type 2, want ET_REL) (-ENOEXEC)`);
      });
    } finally {
      tmp.done();
    }
  });
});

describe('errors a load did not expect', () => {
  it('come out as a ModuleFormatError naming the file, the original as its cause, guest memory untouched', async () => {
    await withModules({}, (k, ms) => {
      // a reader that trusts a damaged table (the defect this guards against) throws what a
      // DataView or a property access throws; the loader's caller still gets its typed error
      const elf = ElfFile.read(fixture('lab_mod_hello'));
      const broken = (error: unknown) =>
        Object.create(elf, {
          relocations: {
            value: () => {
              throw error;
            },
          },
        }) as ElfFile;
      const range = new RangeError('Offset is outside the bounds of the DataView');
      const e = refused(k, ms, broken(range));
      expect(e).toBeInstanceOf(ModuleFormatError);
      expect(e.errno).toBe('ENOEXEC');
      expect(e.message).toBe(
        `${fixture('lab_mod_hello')}: malformed object: RangeError: Offset is outside the bounds of the DataView (-ENOEXEC)`,
      );
      expect(e.cause).toBe(range);
      const s = refused(k, ms, broken('not an Error at all'));
      expect(s).toBeInstanceOf(ModuleFormatError);
      expect(s.message).toBe(`${fixture('lab_mod_hello')}: malformed object: not an Error at all (-ENOEXEC)`);
      // the object itself is fine
      expect(ms.load(elf).state).toBe('LIVE');
    });
  });
});

describe('text that does not decode', () => {
  it('a module whose code starts with a byte that is no instruction is placed and taken back like any other', async () => {
    await withModules({}, (k, ms) => {
      // 0x06 (push es) does not exist in 64-bit mode: capstone decodes nothing there
      const bytes = new Uint8Array(readFileSync(fixture('lab_mod_hello')));
      const text = ElfFile.parse(bytes, 'lab_mod_hello.o').sections.find((s) => s.name.startsWith('.text') && s.size > 0)!;
      bytes[text.offset] = 0x06;
      // refused by a COMING notifier, after the code was written and registered: no init runs
      const off = ms.onComing(() => -22);
      const free = k.hostMem.bytesFree;
      const e = thrown(() => ms.load(ElfFile.parse(bytes, fixture('lab_mod_hello'))));
      expect(e).toBeInstanceOf(ModuleLoadError);
      expect(e.message).toBe('lab_mod_hello: a COMING notifier refused the module (-22) (-EINVAL)');
      expect(k.hostMem.bytesFree).toBe(free);
      expect(ms.list()).toEqual([]);
      off();
    });
  });
});

describe('the unresolved-symbol message', () => {
  it('names the first unknown symbols and counts the rest', () => {
    // against an empty kernel every undefined symbol the object relocates against is unknown
    const elf = ElfFile.read(fixture('test_klp_shadow_race'));
    const e = thrown(() => layoutModule(elf, { base: 0xffffffffc0000000n, resolve: () => [] })) as UnresolvedSymbolError;
    expect(e).toBeInstanceOf(UnresolvedSymbolError);
    const all = [e.symbol, ...e.others];
    expect(all.length).toBeGreaterThan(UNKNOWN_NAMES_SHOWN);
    expect(new Set(all).size).toBe(all.length);
    const shown = all
      .slice(1, UNKNOWN_NAMES_SHOWN)
      .map((n) => `'${n}'`)
      .join(', ');
    expect(e.message).toContain(
      `unknown symbol '${e.symbol}' (also unknown: ${shown} and ${all.length - UNKNOWN_NAMES_SHOWN} more) (-ENOENT)`,
    );
    for (const n of all.slice(UNKNOWN_NAMES_SHOWN)) expect(e.message).not.toContain(`'${n}'`);
  });
});
