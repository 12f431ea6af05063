// SPDX-License-Identifier: GPL-2.0-or-later
// klp-convert on objects gcc compiles here with the firmware's module flags and
// <lab/klp_convert.h>, checked with binutils' readelf: annotated references move into
// .klp.rela.<object><section> (SHF_ALLOC | SHF_RELA_LIVEPATCH: readelf's "AIo"), their symbols
// become .klp.sym.<object>.<name>,<sympos> in section "OS [0xff20]" (SHN_LIVEPATCH), the
// annotation sections and their symbols are gone, and everything else reads back as gcc wrote it.
// Bad annotations are KlpConvertErrors naming the file and the problem; the command line tool
// reports them in one line and leaves its output alone.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ElfFile, KlpConvertError, klpConvert, SHN_LIVEPATCH } from '../../src/elf/index.ts';
import { readelfRelocations, readelfSymbols } from './readelf.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'klp-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CFLAGS = [
  '-O2',
  '-c',
  '-ffreestanding',
  '-nostdinc',
  '-mcmodel=kernel',
  '-fno-pie',
  '-mno-red-zone',
  '-ffunction-sections',
  '-fdata-sections',
];

function compile(name: string, source: string): string {
  const src = join(dir, `${name}.c`);
  const obj = join(dir, `${name}.o`);
  writeFileSync(src, `#include <lab/klp_convert.h>\n${source}`);
  execFileSync('gcc', [...CFLAGS, `-I${ROOT}firmware/include`, '-o', obj, src]);
  return obj;
}

function convert(obj: string): string {
  const out = obj.replace(/\.o$/, '.klp.o');
  writeFileSync(out, klpConvert(ElfFile.read(obj)).bytes);
  return out;
}

/** readelf -SW: name -> flags. */
function sectionFlags(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of execFileSync('readelf', ['-SW', file], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

const PATCH = `
extern int counter;		/* static in vmlinux */
extern int helper(int);		/* static in a module, second of its name */
extern int exported(int);	/* an ordinary import */
KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(counter, 0),
};
KLP_MODULE_RELOC(target_mod) target_mod_relocs[] = {
	KLP_SYMPOS(helper, 2),
};
int new_fn(int x)
{
	counter++;
	return helper(x) + exported(counter);
}
int *const counter_ptr = &counter;
`;

describe('klp-convert', () => {
  it('moves annotated relocations into .klp.rela sections, as readelf reads them', () => {
    const obj = compile('patch', PATCH);
    const out = convert(obj);
    // readelf reads all of it without a warning
    const all = spawnSync('readelf', ['-aW', out], { encoding: 'utf8' });
    expect(all.status).toBe(0);
    expect(all.stderr).toBe('');
    const flags = sectionFlags(out);
    expect(flags.get('.klp.rela.vmlinux.text.new_fn')).toBe('AIo');
    expect(flags.get('.klp.rela.target_mod.text.new_fn')).toBe('AIo');
    expect(flags.get('.klp.rela.vmlinux.data.rel.ro.counter_ptr') ?? flags.get('.klp.rela.vmlinux.rodata.counter_ptr')).toBe('AIo');
    expect([...flags.keys()].filter((n) => n.includes('module_relocs'))).toEqual([]);

    const syms = readelfSymbols(out);
    // readelf -s prints the section of such a symbol as "OS [0xff20]" (two words)
    const klp = syms.filter((s) => s.ndx === 'OS');
    expect(klp.map((s) => [s.name, s.type, s.bind]).sort()).toEqual([
      ['[0xff20] .klp.sym.target_mod.helper,2', 'NOTYPE', 'GLOBAL'],
      ['[0xff20] .klp.sym.vmlinux.counter,0', 'NOTYPE', 'GLOBAL'],
    ]);
    expect(syms.filter((s) => /relocs/.test(s.name))).toEqual([]);
    expect(syms.find((s) => s.name === 'exported')?.ndx).toBe('UND');

    // every relocation is still there, once, against the symbol it had (renamed or not)
    const before = readelfRelocations(obj);
    const after = readelfRelocations(out);
    const rename = (n: string) => (n === 'counter' ? '.klp.sym.vmlinux.counter,0' : n === 'helper' ? '.klp.sym.target_mod.helper,2' : n);
    const flat = (
      m: Map<string, { offset: bigint; type: string; symbolName: string; addend: bigint }[]>,
      target: (sec: string) => string,
    ) =>
      [...m]
        .filter(([sec]) => !sec.includes('module_relocs'))
        .flatMap(([sec, rs]) => rs.map((r) => `${target(sec)} ${r.offset} ${r.type} ${rename(r.symbolName)} ${r.addend}`))
        .sort();
    const targetOf = (sec: string) => sec.replace(/^\.klp\.rela\.[^.]+/, '').replace(/^\.rela/, '');
    expect(flat(after, targetOf)).toEqual(flat(before, targetOf));
    expect(after.get('.klp.rela.target_mod.text.new_fn')!.map((r) => r.symbolName)).toEqual(['.klp.sym.target_mod.helper,2']);

    // and the lab's reader sees the same
    const elf = ElfFile.read(out);
    expect(elf.symbols.filter((s) => s.shndx === SHN_LIVEPATCH).length).toBe(2);
    expect(elf.section('.text.new_fn')!.data()).toEqual(ElfFile.read(obj).section('.text.new_fn')!.data());
  });

  it('the firmware build converts test_klp_relocs and leaves the other patches alone', () => {
    const relocs = sectionFlags(`${ROOT}fixtures/test_klp_relocs.o`);
    expect([...relocs].filter(([n]) => n.startsWith('.klp.rela.')).sort()).toEqual([
      ['.klp.rela.test_klp_relocs_mod.text.livepatch_relocs_mod_show', 'AIo'],
      ['.klp.rela.vmlinux.text.livepatch_cmdline_show', 'AIo'],
    ]);
    const plain = sectionFlags(`${ROOT}fixtures/test_klp_livepatch.o`);
    expect([...plain.keys()].some((n) => n.startsWith('.klp'))).toBe(false);
  });

  const bad: Array<[string, string, RegExp]> = [
    [
      'a symbol the object defines',
      'int mine;\nKLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(mine, 0) };\nint f(void) { return mine; }',
      /'mine' is defined in this object; only undefined symbols can be resolved by livepatch/,
    ],
    [
      'an object name with a dot',
      'extern int x;\nstatic const struct klp_module_reloc __attribute__((used, section(".klp.module_relocs.a.b"))) r[] = { KLP_SYMPOS(x, 0) };\nint f(void) { return x; }',
      /section \[\d+\] \.klp\.module_relocs\.a\.b: object name 'a\.b' must be 1-55 characters without '\.'/,
    ],
    [
      'one symbol, two positions',
      'extern int x;\nKLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(x, 1), KLP_SYMPOS(x, 2) };\nint f(void) { return x; }',
      /symbol 'x' is annotated twice: object vmlinux sympos 1, and object vmlinux sympos 2/,
    ],
    [
      'an entry that names no symbol',
      'static const struct klp_module_reloc __attribute__((used, section(".klp.module_relocs.vmlinux"))) r[] = { { 0, 0 } };',
      /1 of 1 entries name no symbol/,
    ],
  ];
  for (const [what, source, message] of bad)
    it(`refuses ${what}`, () => {
      const obj = compile(what.replace(/\W+/g, '_'), source);
      let err: unknown;
      try {
        klpConvert(ElfFile.read(obj));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KlpConvertError);
      expect((err as Error).message).toMatch(new RegExp(`^${obj.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: klp-convert: `));
      expect((err as Error).message).toMatch(message);
    });

  it('bin/klp-convert.mjs: converts in place, or reports one line and writes nothing', () => {
    const obj = compile('cli', PATCH);
    const out = join(dir, 'cli-out.o');
    const ok = spawnSync(process.execPath, [`${ROOT}bin/klp-convert.mjs`, obj, out], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`klp-convert: ${out}: .klp.rela.vmlinux.text.new_fn: 2 relocation(s)`);
    expect(sectionFlags(out).get('.klp.rela.target_mod.text.new_fn')).toBe('AIo');

    const bad = compile('cli_bad', bad0());
    const copy = readFileSync(bad);
    const r = spawnSync(process.execPath, [`${ROOT}bin/klp-convert.mjs`, bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/klp-convert: .*'mine' is defined in this object/)]);
    expect(readFileSync(bad).equals(copy)).toBe(true);
    expect(existsSync(`${bad}.klp-convert.tmp`)).toBe(false);
  });
});

function bad0(): string {
  return 'int mine;\nKLP_MODULE_RELOC(vmlinux) r[] = { KLP_SYMPOS(mine, 0) };\nint f(void) { return mine; }';
}
