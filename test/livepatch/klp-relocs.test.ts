// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Livepatch relocations on real firmware: test_klp_relocs (built through klp-convert) reaches a
 * static array and a static function of vmlinux (format_value, the first of two) and a static
 * variable and function of test_klp_relocs_mod. What the patched functions print, read from
 * the guest, shows the relocations resolved to the right symbols: with the module loaded
 * before the patch, after it, and unloaded and loaded again (the fields are cleared when it
 * goes and written again when it comes, never while it is not there). Each malformed object
 * -- hand-made from the real one by editing its bytes -- gives the kernel's error lines and
 * errno, and no guest byte changes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ElfFile,
  ELF64_RELA_SIZE,
  ELF64_SYM_SIZE,
  SHN_UNDEF,
  SHT_SYMTAB,
  errnoName,
  ModuleError,
  R_X86_64_32,
  type ElfSection,
} from '../../src/elf/index.ts';
import type { LoadedModule } from '../../src/kernel/modules.ts';
import { FIXTURES, type Lab } from '../../src/lab/selftest.ts';
import { useLab } from '../helpers.ts';
import { patchableState } from '../modules/helpers.ts';

const boot = useLab({ cpus: 2, workload: 'default' });
const PATCH = `${FIXTURES}test_klp_relocs.ko`;
const TARGET = 'test_klp_relocs_mod';
const dir = mkdtempSync(join(tmpdir(), 'klp-relocs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The guest bytes of every field of the patch module's `.klp.rela.<objname>.*` sections, in order. */
function klpFields(lab: Lab, objname: string): string[] {
  const m = lab.modules.find('test_klp_relocs')!;
  const out: string[] = [];
  for (const rs of m.layout.deferredRelocations) {
    if (!rs.section.name.startsWith(`.klp.rela.${objname}.`)) continue;
    const at = m.placement(rs.target)!;
    for (const r of rs.entries) out.push(Buffer.from(lab.k.mem.bytes(at + r.offset, 4)).toString('hex'));
  }
  return out;
}

function cat(lab: Lab, fn: string): string {
  return lab.cat(fn).trim();
}

/** A copy of the patch module, edited by `edit`, under the same file name in a directory of its own. */
function variant(tag: string, edit: (bytes: Buffer, elf: ElfFile) => void): string {
  const bytes = Buffer.from(readFileSync(PATCH));
  edit(bytes, ElfFile.parse(Uint8Array.from(bytes), PATCH));
  const path = join(mkdtempSync(join(dir, `${tag}-`)), 'test_klp_relocs.ko');
  writeFileSync(path, bytes);
  return path;
}

/** Replaces a whole NUL-terminated name in the file by one of the same length. */
function rename(from: string, to: string): (bytes: Buffer) => void {
  return (bytes) => {
    expect(to.length).toBe(from.length);
    const at = bytes.indexOf(`\0${from}\0`, 0, 'latin1');
    expect(at).toBeGreaterThan(0);
    bytes.write(to, at + 1, 'latin1');
  };
}

/**
 * insmod of an object that must fail: the errno, and what its failed init changed in the patch
 * module `name` between its COMING and its GOING (undefined when a COMING notifier before the
 * test's refused it): its text and read-only data (where its relocations
 * are), and the fields of its livepatch relocations. Its writable data is left out: the core
 * fills klp_func and klp_object fields there as it resolves them, as the kernel does.
 */
function insmodFailing(lab: Lab, path: string, name: string): { errno: string; codeChanged?: boolean; fieldsWritten: number } {
  let snap: Buffer | undefined;
  let codeChanged: boolean | undefined;
  let fieldsWritten = 0;
  const code = (m: LoadedModule) => {
    const end = m.regions.rodata.offset + m.regions.rodata.size;
    return Buffer.from(lab.k.mem.bytes(m.base, end));
  };
  const off = [
    lab.modules.onComing((m) => {
      if (m.name === name) snap = code(m);
    }),
    lab.modules.onGoing((m) => {
      if (m.name !== name) return;
      codeChanged = !code(m).equals(snap!);
      fieldsWritten = [...klpFields(lab, 'vmlinux'), ...klpFields(lab, TARGET)].filter((f) => f !== '00000000').length;
    }),
  ];
  lab.logCmd(`insmod ${path}`);
  try {
    lab.modules.load(path);
  } catch (e) {
    const first = e instanceof AggregateError ? e.errors[0] : e;
    expect(first).toBeInstanceOf(ModuleError);
    return { errno: errnoName((first as ModuleError).code), codeChanged, fieldsWritten };
  } finally {
    off.forEach((f) => f());
  }
  throw new Error(`${path} loaded although it should have failed`);
}

/** The log lines since the test started that come from the livepatch core or the module loader. */
function klpLines(lab: Lab): string[] {
  return lab.logSinceStart().filter((l) => /^(livepatch|module): |^% /.test(l) && !/enabling patch|taint/.test(l));
}

describe('livepatch relocations', () => {
  it('vmlinux statics resolve at enable; a module loaded before the patch, then reloaded', async () => {
    const lab = await boot();
    lab.loadMod(TARGET);
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe(`${TARGET}: original output, read 1`);
    expect(cat(lab, 'cmdline_proc_show')).toBe('klp-lab workload=default nr_cpus=2');

    lab.loadLp('test_klp_relocs');
    // workload_names[] and proc.c's format_value ("Name: value"), both static in vmlinux
    expect(cat(lab, 'cmdline_proc_show')).toBe('test_klp_relocs: workload default, format_value: 1');
    // the module's own static counter, shared with its original code, and its static helper
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 2, secret 14');
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 3, secret 21');
    expect(klpFields(lab, TARGET).every((f) => f !== '00000000')).toBe(true);
    // the loader left the .klp.rela sections to the core, and in host memory only
    const pmod = lab.modules.find('test_klp_relocs')!;
    expect(pmod.layout.deferredRelocations.map((rs) => [rs.section.name, pmod.placement(rs.section)])).toEqual([
      [`.klp.rela.${TARGET}.text.livepatch_relocs_mod_show`, undefined],
      ['.klp.rela.vmlinux.text.livepatch_cmdline_proc_show', undefined],
    ]);

    // gone: the fields are cleared (the old addresses must not survive); back: written again
    lab.unloadMod(TARGET);
    expect(new Set(klpFields(lab, TARGET))).toEqual(new Set(['00000000']));
    expect(klpFields(lab, 'vmlinux').every((f) => f !== '00000000')).toBe(true);
    lab.loadMod(TARGET);
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 1, secret 7');
    lab.unloadMod(TARGET);
    lab.loadMod(TARGET);
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 1, secret 7');
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 2, secret 14');
    expect(klpLines(lab)).toEqual([
      `% modprobe ${TARGET}`,
      '% modprobe test_klp_relocs',
      "livepatch: 'test_klp_relocs': initializing patching transition",
      "livepatch: 'test_klp_relocs': starting patching transition",
      "livepatch: 'test_klp_relocs': completing patching transition",
      "livepatch: 'test_klp_relocs': patching complete",
      `% rmmod ${TARGET}`,
      `livepatch: reverting patch 'test_klp_relocs' on unloading module '${TARGET}'`,
      `% modprobe ${TARGET}`,
      `livepatch: applying patch 'test_klp_relocs' to loading module '${TARGET}'`,
      `% rmmod ${TARGET}`,
      `livepatch: reverting patch 'test_klp_relocs' on unloading module '${TARGET}'`,
      `% modprobe ${TARGET}`,
      `livepatch: applying patch 'test_klp_relocs' to loading module '${TARGET}'`,
    ]);
  });

  it('a field changed behind the core is left alone when the module goes, and refuses the reload', async () => {
    const lab = await boot();
    lab.loadMod(TARGET);
    lab.loadLp('test_klp_relocs');
    const m = lab.modules.find('test_klp_relocs')!;
    const rs = m.layout.deferredRelocations.find((r) => r.section.name.startsWith(`.klp.rela.${TARGET}.`))!;
    const at = m.placement(rs.target)! + rs.entries[0].offset;
    const val = BigInt.asUintN(64, BigInt(lab.k.mem.u32(at) | 0)).toString(16);
    lab.k.mem.setU32(at, 0x12345678);
    lab.startTest();
    lab.unloadMod(TARGET);
    // the kernel gives up on the section at the first field that is not what it wrote
    expect(klpFields(lab, TARGET)[0]).toBe('78563412');
    expect(
      klpFields(lab, TARGET)
        .slice(1)
        .every((f) => f !== '00000000'),
    ).toBe(true);
    const r = insmodFailing(lab, `${FIXTURES}${TARGET}.ko`, TARGET);
    expect(r.errno).toBe('ENOEXEC');
    const loc = at.toString(16);
    expect(klpLines(lab)).toEqual([
      `% rmmod ${TARGET}`,
      `livepatch: reverting patch 'test_klp_relocs' on unloading module '${TARGET}'`,
      `module: x86/modules: Invalid relocation target, existing value does not match expected value for type 2, loc ${loc}, val ${val}`,
      `% insmod ${FIXTURES}${TARGET}.ko`,
      expect.stringMatching(
        new RegExp(`^module: x86/modules: Invalid relocation target, existing value is nonzero for type 2, loc ${loc}, val [0-9a-f]+$`),
      ),
      `livepatch: failed to initialize patch 'test_klp_relocs' for module '${TARGET}' (-8)`,
      `livepatch: patch 'test_klp_relocs' failed for module '${TARGET}', refusing to load module '${TARGET}'`,
    ]);
  });

  it('a module that loads after the patch: nothing written for it until it is there', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_relocs');
    expect(cat(lab, 'cmdline_proc_show')).toBe('test_klp_relocs: workload default, format_value: 1');
    const fields = klpFields(lab, TARGET);
    expect(fields.length).toBe(4);
    expect(new Set(fields)).toEqual(new Set(['00000000']));
    lab.loadMod(TARGET);
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 1, secret 7');
    lab.unloadMod(TARGET);
    lab.loadMod(TARGET);
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 1, secret 7');
    // disabled: the original code, with the module's counter where the patch left it
    lab.disableLp('test_klp_relocs');
    lab.waitForTransition('test_klp_relocs');
    expect(cat(lab, 'test_klp_relocs_mod_show')).toBe(`${TARGET}: original output, read 2`);
    expect(cat(lab, 'cmdline_proc_show')).toBe('klp-lab workload=default nr_cpus=2');
  });
});

/** The file offset of relocation `i` of section `name`. */
function relaEntry(elf: ElfFile, name: string, i: number): number {
  const s = elf.section(name) as ElfSection;
  expect(s).toBeDefined();
  return s.offset + i * ELF64_RELA_SIZE;
}

describe('malformed livepatch relocations: the kernel error, nothing written', () => {
  const VMLINUX_SEC = '.klp.rela.vmlinux.text.livepatch_cmdline_proc_show';
  const MOD_SYM = '.klp.sym.test_klp_relocs_mod.relocs_mod_calls,0';
  const cases: Array<{ what: string; edit: (b: Buffer, elf: ElfFile) => void; errno: string; lines: (lab: Lab) => string[] }> = [
    {
      what: 'section name without an object',
      edit: rename(VMLINUX_SEC, '.klp.rela..mlinux.text.livepatch_cmdline_proc_show'),
      errno: 'EINVAL',
      lines: () => ['livepatch: section .klp.rela..mlinux.text.livepatch_cmdline_proc_show has an incorrectly formatted name'],
    },
    {
      what: 'symbol name without its object',
      edit: rename('.klp.sym.vmlinux.workload_names,0', '.klp.sym.vmlinux:workload_names,0'),
      errno: 'EINVAL',
      lines: () => ['livepatch: symbol .klp.sym.vmlinux:workload_names,0 has an incorrectly formatted name'],
    },
    {
      what: 'symbol name without a sympos',
      edit: rename('.klp.sym.vmlinux.format_value,1', '.klp.sym.vmlinux.format_value;1'),
      errno: 'EINVAL',
      lines: () => ['livepatch: symbol .klp.sym.vmlinux.format_value;1 has an incorrectly formatted name'],
    },
    {
      what: 'a symbol not marked SHN_LIVEPATCH',
      edit: (b, elf) => {
        const sym = elf.symbols.find((x) => x.name === '.klp.sym.vmlinux.workload_names,0')!;
        const symtab = elf.sections.find((x) => x.type === SHT_SYMTAB)!;
        b.writeUInt16LE(SHN_UNDEF, symtab.offset + sym.index * ELF64_SYM_SIZE + 6);
      },
      errno: 'EINVAL',
      lines: () => ['livepatch: symbol .klp.sym.vmlinux.workload_names,0 is not marked as a livepatch symbol'],
    },
    {
      what: 'sympos past the symbols there are',
      edit: rename('.klp.sym.vmlinux.format_value,1', '.klp.sym.vmlinux.format_value,3'),
      errno: 'EINVAL',
      lines: () => ["livepatch: symbol position 3 for symbol 'format_value' in object 'vmlinux' not found"],
    },
    {
      what: 'an ambiguous symbol without sympos',
      edit: rename('.klp.sym.vmlinux.format_value,1', '.klp.sym.vmlinux.format_value,0'),
      errno: 'EINVAL',
      lines: () => ["livepatch: unresolvable ambiguity for symbol 'format_value' in object '(null)'"],
    },
    {
      what: 'a symbol that is not there',
      edit: rename('.klp.sym.vmlinux.workload_names,0', '.klp.sym.vmlinux.workload_namez,0'),
      errno: 'EINVAL',
      lines: () => ["livepatch: symbol 'workload_namez' not found in symbol table"],
    },
    {
      what: 'a relocation that overflows its field (R_X86_64_32 of a top-2-GiB address)',
      edit: (b, elf) => {
        const at = relaEntry(elf, VMLINUX_SEC, 0);
        expect(b.readUInt32LE(at + 8)).toBe(11); // R_X86_64_32S against workload_names
        b.writeUInt32LE(R_X86_64_32, at + 8);
      },
      errno: 'ENOEXEC',
      lines: (lab) => [
        `module: overflow in relocation type 10 val ${lab.k.sym('workload_names').toString(16)}`,
        "module: `test_klp_relocs' likely not compiled with -mcmodel=kernel",
      ],
    },
    {
      what: 'a relocation type the kernel does not apply',
      edit: (b, elf) => b.writeUInt32LE(9 /* R_X86_64_GOTPCREL */, relaEntry(elf, VMLINUX_SEC, 1) + 8),
      errno: 'ENOEXEC',
      lines: () => ['module: test_klp_relocs: Unknown rela relocation: 9'],
    },
    {
      what: 'a module-specific section reaching a vmlinux symbol',
      // same length: sscanf's %lu, like the kernel's, stops at the first character after the digits
      edit: rename(MOD_SYM, '.klp.sym.vmlinux.relocs_mod_calls,0,'.padEnd(MOD_SYM.length, 'x')),
      errno: 'EINVAL',
      lines: () => ["livepatch: invalid access to vmlinux symbol 'relocs_mod_calls' from module-specific livepatch relocation section"],
    },
  ];

  for (const c of cases)
    it(c.what, async () => {
      const path = variant(c.what.replace(/\W+/g, '-'), c.edit);
      const lab = await boot();
      // the module-specific cases fail at enable only when the module is there
      lab.loadMod(TARGET);
      lab.startTest();
      const before = patchableState(lab);
      const r = insmodFailing(lab, path, 'test_klp_relocs');
      expect(r.errno).toBe(c.errno);
      expect(r.codeChanged).toBe(false);
      expect(r.fieldsWritten).toBe(0);
      expect(patchableState(lab)).toBe(before);
      expect(lab.lp.patches).toEqual([]);
      expect(klpLines(lab)).toEqual([`% insmod ${path}`, ...c.lines(lab)]);
      // and the kernel is fine: the real patch still works
      lab.loadLp('test_klp_relocs');
      expect(cat(lab, 'test_klp_relocs_mod_show')).toBe('test_klp_relocs: read 1, secret 7');
    });

  it('a bad module-specific relocation refuses the module when it comes, not the patch', async () => {
    const path = variant('coming', rename(MOD_SYM, '.klp.sym.test_klp_relocs_mod.relocs_mod_calls,2'));
    const lab = await boot();
    lab.logCmd(`insmod ${path}`);
    lab.modules.load(path);
    lab.waitForTransition('test_klp_relocs');
    const pmod = lab.modules.find('test_klp_relocs')!;
    const patchBytes = Buffer.from(lab.k.mem.bytes(pmod.base, pmod.size));
    const before = patchableState(lab);
    const r = insmodFailing(lab, `${FIXTURES}${TARGET}.ko`, TARGET);
    expect(r.errno).toBe('EINVAL');
    expect(Buffer.from(lab.k.mem.bytes(pmod.base, pmod.size)).equals(patchBytes)).toBe(true);
    expect(patchableState(lab)).toBe(before);
    expect(klpLines(lab).slice(-4)).toEqual([
      `% insmod ${FIXTURES}${TARGET}.ko`,
      `livepatch: symbol position 2 for symbol 'relocs_mod_calls' in object '${TARGET}' not found`,
      `livepatch: failed to initialize patch 'test_klp_relocs' for module '${TARGET}' (-22)`,
      `livepatch: patch 'test_klp_relocs' failed for module '${TARGET}', refusing to load module '${TARGET}'`,
    ]);
    // the vmlinux part is unaffected
    expect(cat(lab, 'cmdline_proc_show')).toBe('test_klp_relocs: workload default, format_value: 1');
  });
});
