// SPDX-License-Identifier: GPL-2.0-or-later
// Checks the ELF64 reader against readelf on objects built by the real
// toolchain, and checks that damaged input fails with a useful ElfFormatError.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AmbiguousSymbolError,
  ElfError,
  ElfFile,
  ElfFormatError,
  ET_EXEC,
  ET_REL,
  PF_R,
  PF_X,
  PT_LOAD,
  R_X86_64_32,
  R_X86_64_32S,
  R_X86_64_64,
  R_X86_64_NONE,
  R_X86_64_PC32,
  R_X86_64_PC64,
  R_X86_64_PLT32,
  SHF_ALLOC,
  SHN_ABS,
  SHN_COMMON,
  SHN_UNDEF,
  SHT_NOBITS,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FILE,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  STT_SECTION,
  STV_DEFAULT,
  STV_HIDDEN,
  STV_INTERNAL,
  STV_PROTECTED,
  SymbolNotFoundError,
  relocationTypeName,
  type ElfSymbol,
} from '../../src/elf/index.ts';
import { readelfRelocations, readelfSections, readelfSegments, readelfSymbols } from './readelf.ts';
import { FILLER_SECTIONS, buildExtendedNumberingObject } from './synthetic.ts';
import { TEXT_BASE, buildInputs, type Inputs } from './toolchain.ts';

const TYPES: Record<string, number> = {
  NOTYPE: STT_NOTYPE,
  OBJECT: STT_OBJECT,
  FUNC: STT_FUNC,
  SECTION: STT_SECTION,
  FILE: STT_FILE,
};
const BINDS: Record<string, number> = { LOCAL: STB_LOCAL, GLOBAL: STB_GLOBAL, WEAK: STB_WEAK };
const VISIBILITIES: Record<string, number> = {
  DEFAULT: STV_DEFAULT,
  INTERNAL: STV_INTERNAL,
  HIDDEN: STV_HIDDEN,
  PROTECTED: STV_PROTECTED,
};
const SPECIAL_NDX: Record<string, number> = { UND: SHN_UNDEF, ABS: SHN_ABS, COM: SHN_COMMON };

/** readelf prints a section symbol under its section's name. */
function displayName(symbol: ElfSymbol): string {
  return symbol.type === STT_SECTION && symbol.name === '' ? (symbol.section?.name ?? '') : symbol.name;
}

function expectSymbolsMatchReadelf(path: string, elf: ElfFile): void {
  const expected = readelfSymbols(path);
  expect(elf.symbols.length).toBe(expected.length);
  for (const row of expected) {
    const symbol = elf.symbols[row.num];
    const special = SPECIAL_NDX[row.ndx];
    expect({
      index: symbol.index,
      name: displayName(symbol),
      value: symbol.value,
      size: symbol.size,
      type: symbol.type,
      bind: symbol.bind,
      visibility: symbol.visibility,
      shndx: symbol.shndx,
      section: symbol.section?.index,
    }).toEqual({
      index: row.num,
      name: row.name,
      value: row.value,
      size: row.size,
      type: TYPES[row.type],
      bind: BINDS[row.bind],
      visibility: VISIBILITIES[row.vis],
      shndx: special ?? Number(row.ndx),
      section: special === undefined ? Number(row.ndx) : undefined,
    });
  }
}

function expectRelocationsMatchReadelf(path: string, elf: ElfFile): void {
  const expected = readelfRelocations(path);
  const actual = elf.relocations();
  expect(actual.map((r) => r.section.name)).toEqual([...expected.keys()]);
  for (const rela of actual) {
    expect(rela.target.index).toBe(rela.section.info);
    const rows = expected.get(rela.section.name)!;
    expect(
      rela.entries.map((r) => ({
        offset: r.offset,
        info: (BigInt(r.symbol.index) << 32n) | BigInt(r.type),
        type: relocationTypeName(r.type),
        symbolName: displayName(r.symbol),
        addend: r.addend,
      })),
    ).toEqual(rows);
  }
}

function expectSectionsMatchReadelf(path: string, elf: ElfFile): void {
  const expected = readelfSections(path);
  expect(
    elf.sections.map((s) => ({
      index: s.index,
      name: s.name,
      addr: s.addr,
      offset: s.offset,
      size: s.size,
      entsize: s.entsize,
      link: s.link,
      info: s.info,
      align: s.addralign,
    })),
  ).toEqual(expected.map(({ type: _type, ...row }) => row));
}

/** Runs `fn` and returns the error it must throw, which must be a `type`. */
function thrown<T extends Error>(type: abstract new (...args: never[]) => T, fn: () => unknown): T {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as T;
  }
  throw new Error(`expected a ${type.name}`);
}

const formatError = (fn: () => unknown): ElfFormatError => thrown(ElfFormatError, fn);

/** Parses and decodes everything lazily decoded too, so every check runs. */
function parseFully(bytes: Uint8Array, name: string): ElfFile {
  const elf = ElfFile.parse(bytes, name);
  void elf.symbols;
  elf.relocations();
  return elf;
}

let dir: string;
let inputs: Inputs;
const files = new Map<string, ElfFile>();
const elf = (path: string): ElfFile => files.get(path)!;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'klp-elf-'));
  inputs = buildInputs(dir);
  for (const path of Object.values(inputs)) files.set(path, ElfFile.read(path));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ElfFile against readelf', () => {
  const cases = ['head', 'kernel', 'dup', 'vmlinux'] as const;

  it.each(cases)('%s: sections', (which) => {
    expectSectionsMatchReadelf(inputs[which], elf(inputs[which]));
  });

  it.each(cases)('%s: symbols', (which) => {
    expectSymbolsMatchReadelf(inputs[which], elf(inputs[which]));
  });

  it.each(cases)('%s: relocations', (which) => {
    expectRelocationsMatchReadelf(inputs[which], elf(inputs[which]));
  });

  it('vmlinux: program headers', () => {
    const vmlinux = elf(inputs.vmlinux);
    const expected = readelfSegments(inputs.vmlinux);
    expect(vmlinux.segments.length).toBe(expected.length);
    const loads = vmlinux.segments.filter((s) => s.type === PT_LOAD);
    expect(
      loads.map((s) => ({
        offset: s.offset,
        vaddr: s.vaddr,
        paddr: s.paddr,
        filesz: s.filesz,
        memsz: s.memsz,
        align: s.align,
      })),
    ).toEqual(expected.filter((s) => s.type === 'LOAD').map(({ type: _t, flags: _f, ...row }) => row));

    // The text segment starts at the kernel text base and maps .text's bytes.
    const text = vmlinux.section('.text')!;
    const textSegment = loads.find((s) => s.vaddr === TEXT_BASE)!;
    expect(textSegment.flags).toBe(PF_R | PF_X);
    expect(textSegment.data().subarray(0, text.size)).toEqual(text.data());
    // .bss is in memory but not in the file.
    const bss = vmlinux.section('.bss')!;
    expect(bss.type).toBe(SHT_NOBITS);
    expect(bss.data().length).toBe(0);
    const dataSegment = loads.find((s) => s.vaddr <= bss.addr && bss.addr < s.vaddr + BigInt(s.memsz))!;
    expect(dataSegment.memsz).toBeGreaterThan(dataSegment.filesz);
  });
});

describe('64-bit values', () => {
  it('keeps kernel addresses exact', () => {
    const vmlinux = elf(inputs.vmlinux);
    expect(vmlinux.type).toBe(ET_EXEC);
    expect(vmlinux.section('.text')!.addr).toBe(0xffffffff81000000n);
    expect(vmlinux.findSymbol('first').value).toBe(0xffffffff81000000n);
    expect(vmlinux.findSymbol('second').value).toBe(0xffffffff81000010n);
    expect(vmlinux.entry).toBe(0xffffffff81000000n);
  });

  it('decodes every relocation type the kernel objects use, with signed addends', () => {
    const head = elf(inputs.head);
    const kernel = elf(inputs.kernel);
    expect(head.type).toBe(ET_REL);
    const all = [...head.relocations(), ...kernel.relocations()].flatMap((r) => r.entries);
    expect(new Set(all.map((r) => r.type))).toEqual(
      new Set([R_X86_64_NONE, R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_32, R_X86_64_32S, R_X86_64_PC64]),
    );

    const text = kernel.relocations().find((r) => r.target.name === '.text')!;
    expect(text.section.name).toBe('.rela.text');
    const call = text.entries.find((r) => r.type === R_X86_64_PLT32)!;
    expect(call.symbol.name).toBe('printk');
    expect(call.symbol.shndx).toBe(SHN_UNDEF);
    expect(call.addend).toBe(-4n);

    const phys = head.relocations()[0].entries.find((r) => r.type === R_X86_64_32)!;
    expect(phys.addend).toBe(0x80000000n);
  });

  it('names relocation types like the psABI', () => {
    expect(relocationTypeName(R_X86_64_PLT32)).toBe('R_X86_64_PLT32');
    expect(relocationTypeName(R_X86_64_32S)).toBe('R_X86_64_32S');
    expect(relocationTypeName(9)).toBe('R_X86_64_<unknown 9>');
  });
});

describe('findSymbol with sympos', () => {
  it('rejects an ambiguous name, listing where the candidates are', () => {
    const dup = elf(inputs.dup);
    const candidates = dup.symbolsNamed('dup');
    expect(candidates.map((s) => s.value)).toEqual([0x0n, 0x10n]);
    const error = thrown(AmbiguousSymbolError, () => dup.findSymbol('dup'));
    expect(error).toBeInstanceOf(ElfError);
    expect(error).toMatchObject({ file: inputs.dup, symbol: 'dup', count: 2, addresses: [0x0n, 0x10n] });
    expect(error.message).toBe(
      `${inputs.dup}: symbol 'dup' is ambiguous: 2 candidates at 0x0 in [2] .text.dup, 0x10 in [2] .text.dup; ` +
        `pass a sympos (1..2) to choose one, as with kallsyms' sympos`,
    );
    expect(() => dup.findSymbol('dup', 0)).toThrow(AmbiguousSymbolError);
  });

  it('picks the N-th candidate in symbol table order', () => {
    const vmlinux = elf(inputs.vmlinux);
    const rows = readelfSymbols(inputs.vmlinux).filter((r) => r.name === 'dup');
    expect(rows).toHaveLength(2);
    expect(vmlinux.findSymbol('dup', 1).value).toBe(rows[0].value);
    expect(vmlinux.findSymbol('dup', 2).value).toBe(rows[1].value);
    expect(vmlinux.findSymbol('dup', 2).index).toBe(rows[1].num);
    const [a, b] = rows.map((r) => `0x${r.value.toString(16)} in [1] .text`);
    expect(() => vmlinux.findSymbol('dup')).toThrow(`candidates at ${a}, ${b};`);
  });

  it('reports a missing symbol or sympos', () => {
    const vmlinux = elf(inputs.vmlinux);
    const position = thrown(SymbolNotFoundError, () => vmlinux.findSymbol('dup', 3));
    expect(position).toMatchObject({ file: inputs.vmlinux, symbol: 'dup', sympos: 3 });
    expect(position.message).toBe(`${inputs.vmlinux}: symbol 'dup' with sympos 3 not found (2 candidates)`);
    const missing = thrown(SymbolNotFoundError, () => vmlinux.findSymbol('no_such_function'));
    expect(missing).toMatchObject({ file: inputs.vmlinux, symbol: 'no_such_function', sympos: undefined });
    expect(missing.message).toBe(`${inputs.vmlinux}: symbol 'no_such_function' not found`);
    expect(() => vmlinux.findSymbol('dup', -1)).toThrow(RangeError);
  });

  it('finds unique symbols with sympos 0 or 1 and ignores FILE, SECTION and undefined symbols', () => {
    const vmlinux = elf(inputs.vmlinux);
    expect(vmlinux.findSymbol('klp_target').name).toBe('klp_target');
    expect(vmlinux.findSymbol('klp_target', 0)).toBe(vmlinux.findSymbol('klp_target', 1));
    expect(vmlinux.findSymbol('_end').type).toBe(STT_NOTYPE);
    expect(() => vmlinux.findSymbol('a.c')).toThrow(SymbolNotFoundError);
    expect(vmlinux.symbolsNamed('')).toEqual([]);
    expect(() => elf(inputs.kernel).findSymbol('printk')).toThrow(SymbolNotFoundError);
  });
});

describe('symbolAt', () => {
  /**
   * The documented rule, applied by a linear scan over readelf's rows: FUNC or
   * OBJECT symbols in a section whose [value, value + max(size, 1)) holds addr;
   * FUNC first, then the highest value, then the lowest symbol index.
   */
  function oracle(rows: ReturnType<typeof readelfSymbols>, addr: bigint, sectionIndex?: number): number | undefined {
    const hits = rows.filter(
      (r) =>
        (r.type === 'FUNC' || r.type === 'OBJECT') &&
        /^\d+$/.test(r.ndx) &&
        (sectionIndex === undefined || Number(r.ndx) === sectionIndex) &&
        r.value <= addr &&
        addr < r.value + BigInt(Math.max(r.size, 1)),
    );
    hits.sort((a, b) =>
      a.type !== b.type ? (a.type === 'FUNC' ? -1 : 1) : a.value !== b.value ? (a.value > b.value ? -1 : 1) : a.num - b.num,
    );
    return hits[0]?.num;
  }

  it('agrees with a linear scan at every address of every allocated section', () => {
    const vmlinux = elf(inputs.vmlinux);
    const rows = readelfSymbols(inputs.vmlinux);
    let found = 0;
    for (const section of vmlinux.sections.filter((s) => s.flags & SHF_ALLOC)) {
      for (let addr = section.addr - 1n; addr <= section.addr + BigInt(section.size); addr++) {
        const expected = oracle(rows, addr);
        expect(vmlinux.symbolAt(addr)?.index, `0x${addr.toString(16)}`).toBe(expected);
        if (expected !== undefined) found++;
      }
    }
    expect(found).toBeGreaterThan(150);
  });

  it('agrees with a linear scan within each section of a relocatable object', () => {
    for (const path of [inputs.dup, inputs.head, inputs.kernel]) {
      const object = elf(path);
      const rows = readelfSymbols(path);
      for (const section of object.sections.filter((s) => s.flags & SHF_ALLOC)) {
        for (let addr = 0n; addr <= BigInt(section.size); addr++) {
          expect(object.symbolAt(addr, section)?.index, `${section.name}+0x${addr.toString(16)}`).toBe(oracle(rows, addr, section.index));
        }
      }
    }
    const dup = elf(inputs.dup);
    const [, second] = dup.symbolsNamed('dup');
    expect(dup.symbolAt(0x12n, dup.section('.text.dup'))).toBe(second);
  });

  it('prefers FUNC, then the innermost symbol, then symbol table order', () => {
    const vmlinux = elf(inputs.vmlinux);
    const second = vmlinux.findSymbol('second');
    const alias = vmlinux.findSymbol('second_bytes');
    expect(alias).toMatchObject({ type: STT_OBJECT, value: second.value });
    expect(alias.index).toBeLessThan(second.index);
    expect(vmlinux.symbolAt(second.value)).toBe(second);
    // inner is a zero-size label at second + 1.
    expect(vmlinux.symbolAt(second.value + 1n)?.name).toBe('inner');
    const [first, firstAlias] = [vmlinux.findSymbol('first'), vmlinux.findSymbol('first_alias')];
    expect(vmlinux.symbolAt(TEXT_BASE)).toBe(first.index < firstAlias.index ? first : firstAlias);
    // Between first (1 byte) and second (16-byte aligned): padding.
    expect(vmlinux.symbolAt(TEXT_BASE + 1n)).toBeUndefined();
    expect(vmlinux.symbolAt(TEXT_BASE + 0xfn)).toBeUndefined();
    // reloc_pc64 is nested in reloc_table and ends first; past it, the
    // enclosing symbol still matches.
    const relocTable = vmlinux.findSymbol('reloc_table');
    const relocPc64 = vmlinux.findSymbol('reloc_pc64');
    expect(relocPc64.value).toBe(relocTable.value + 4n);
    expect(relocPc64.index).toBeGreaterThan(relocTable.index);
    expect(vmlinux.symbolAt(relocTable.value + 4n)).toBe(relocPc64);
    expect(vmlinux.symbolAt(relocTable.value + 16n)).toBe(relocTable);
    const table = vmlinux.findSymbol('table');
    expect(vmlinux.symbolAt(table.value + 7n)).toBe(table);
    // NOTYPE linker symbols are not containers.
    expect(vmlinux.symbolAt(vmlinux.findSymbol('_end').value)).toBeUndefined();
    expect(vmlinux.symbolAt(0n)).toBeUndefined();
    expect(vmlinux.symbolAt(0xffffffffffffffffn)).toBeUndefined();
  });

  it('maps every .text relocation of vmlinux to the function it patches', () => {
    const vmlinux = elf(inputs.vmlinux);
    const text = vmlinux.relocations().find((r) => r.target.name === '.text')!;
    const owners = text.entries.map((r) => vmlinux.symbolAt(r.offset)?.name);
    expect(owners).toEqual(['helper', 'klp_target', 'klp_target', 'klp_target', 'call_a', 'call_a', 'call_b']);
  });
});

describe('extended section numbering', () => {
  it('reads a file with more than 0xff00 sections like readelf', () => {
    const path = join(dir, 'many-sections.o');
    const bytes = buildExtendedNumberingObject();
    writeFileSync(path, bytes);
    const many = ElfFile.parse(bytes, path);
    expect(many.sections.length).toBe(FILLER_SECTIONS + 5);
    expect(many.sectionsByName('.s').length).toBe(FILLER_SECTIONS);
    expect(many.section('.shstrtab')!.index).toBe(FILLER_SECTIONS + 4);
    expectSymbolsMatchReadelf(path, many);
    const hi = many.findSymbol('hi');
    expect(hi.shndx).toBe(FILLER_SECTIONS);
    expect(hi.section).toBe(many.sections[FILLER_SECTIONS]);
    const abs = many.findSymbol('abs');
    expect(abs).toMatchObject({ shndx: SHN_ABS, section: undefined, value: 0xffffffff81000000n });
  });
});

describe('bad input', () => {
  let bytes: Uint8Array;
  let name: string;
  beforeAll(() => {
    bytes = readFileSync(inputs.kernel);
    name = basename(inputs.kernel);
  });

  const patched = (patch: (view: DataView, copy: Uint8Array) => void): Uint8Array => {
    const copy = new Uint8Array(bytes);
    patch(new DataView(copy.buffer), copy);
    return copy;
  };

  it('rejects a truncated header', () => {
    expect(formatError(() => ElfFile.parse(bytes.subarray(0, 40), name)).message).toBe(
      'k.o: truncated: ELF header at 0x0+0x40 past end of file (0x28 bytes)',
    );
    expect(formatError(() => ElfFile.parse(bytes.subarray(0, 10), name)).message).toBe(
      'k.o: truncated: e_ident at 0x0+0x10 past end of file (0xa bytes)',
    );
    expect(formatError(() => ElfFile.parse(new Uint8Array(0), name)).message).toMatch(/^k\.o: truncated: e_ident/);
  });

  it('rejects a truncated section header table', () => {
    const elfFile = elf(inputs.kernel);
    const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
    const size = elfFile.sections.length * 64;
    const cut = shoff + 100;
    expect(formatError(() => ElfFile.parse(bytes.subarray(0, cut), name)).message).toBe(
      `k.o: truncated: section header table at 0x${shoff.toString(16)}+0x${size.toString(16)} past end of file (0x${cut.toString(16)} bytes)`,
    );
  });

  it('rejects a file cut inside a section', () => {
    // gcc puts the section header table last, so a cut inside .text loses it too.
    const text = elf(inputs.kernel).section('.text')!;
    const cut = text.offset + 5;
    expect(formatError(() => ElfFile.parse(bytes.subarray(0, cut), name)).message).toMatch(
      /^k\.o: truncated: section header table at 0x[0-9a-f]+\+0x[0-9a-f]+ past end of file \(0x45 bytes\)$/,
    );
    // A section whose data runs past the end, with the table intact.
    const grown = patched((view) => view.setBigUint64(Number(view.getBigUint64(40, true)) + text.index * 64 + 32, 0x100000n, true));
    expect(formatError(() => ElfFile.parse(grown, name)).message).toBe(
      `k.o: truncated: section [1] .text at 0x40+0x100000 past end of file (0x${bytes.length.toString(16)} bytes)`,
    );
  });

  it('rejects a truncated program header table', () => {
    const vmlinux = readFileSync(inputs.vmlinux);
    const many = new Uint8Array(vmlinux);
    new DataView(many.buffer).setUint16(56, 0x4000, true);
    expect(formatError(() => ElfFile.parse(many, 'vmlinux')).message).toBe(
      `vmlinux: truncated: program header table at 0x40+0xe0000 past end of file (0x${vmlinux.length.toString(16)} bytes)`,
    );
  });

  it('throws only ElfFormatError for every truncation length', () => {
    for (let length = 0; length < bytes.length; length++) {
      const error = formatError(() => parseFully(bytes.subarray(0, length), name));
      expect(error.message).toMatch(/^k\.o: truncated: /);
    }
  });

  it('rejects other machines, ELF32, big-endian and non-ELF files', () => {
    expect(
      formatError(() =>
        ElfFile.parse(
          patched((v) => v.setUint16(18, 183, true)),
          name,
        ),
      ).message,
    ).toBe('k.o: not an x86-64 ELF (e_machine 183, EM_AARCH64)');
    expect(
      formatError(() =>
        ElfFile.parse(
          patched((v) => v.setUint16(18, 0x1234, true)),
          name,
        ),
      ).message,
    ).toBe('k.o: not an x86-64 ELF (e_machine 4660)');
    expect(
      formatError(() =>
        ElfFile.parse(
          patched((_, b) => (b[4] = 1)),
          name,
        ),
      ).message,
    ).toBe('k.o: not ELF64 (EI_CLASS 1)');
    expect(
      formatError(() =>
        ElfFile.parse(
          patched((_, b) => (b[5] = 2)),
          name,
        ),
      ).message,
    ).toBe('k.o: not little-endian (EI_DATA 2)');
    const notElf = new TextEncoder().encode('#!/bin/sh\necho hello\n');
    expect(formatError(() => ElfFile.parse(notElf, 'hello.sh')).message).toBe('hello.sh: bad magic 23 21 2f 62 (not an ELF file)');
  });

  it('rejects dangling indices in tables, when they are decoded', () => {
    const kernel = elf(inputs.kernel);
    const symtab = kernel.section('.symtab')!;
    const rela = kernel.section('.rela.text')!;
    // Symbol 3's name offset far past .strtab.
    const badName = patched((v) => v.setUint32(symtab.offset + 3 * 24, 0xffff, true));
    const lazy = ElfFile.parse(badName, name);
    expect(formatError(() => lazy.symbols).message).toBe('k.o: string offset 0xffff past end of section [13] .strtab (0x2c bytes)');
    // First relocation's symbol index past the symbol table.
    const badSymbol = patched((v) => v.setUint32(rela.offset + 12, 999, true));
    expect(formatError(() => ElfFile.parse(badSymbol, name).relocations()).message).toBe(
      'k.o: section [2] .rela.text entry 0: symbol index 999 out of range (9 symbols)',
    );
    // A symbol in a section that does not exist.
    const badShndx = patched((v) => v.setUint16(symtab.offset + 3 * 24 + 6, 0x200, true));
    expect(formatError(() => ElfFile.parse(badShndx, name).symbols).message).toBe(
      'k.o: symbol [3] helper: section index 512 out of range (15 sections)',
    );
  });

  it('throws only ElfFormatError for corrupted headers and tables', () => {
    // Deterministic xorshift, so a failure reproduces.
    let seed = 0x9e3779b9;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const kernel = elf(inputs.kernel);
    const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
    const symtab = kernel.section('.symtab')!;
    // The header, the section header table, the symbol table and the relocations.
    const regions = [
      [0, 64],
      [shoff, bytes.length - shoff],
      [symtab.offset, symtab.size],
      ...kernel.relocations().map((r) => [r.section.offset, r.section.size]),
    ];
    for (let round = 0; round < 2000; round++) {
      const copy = new Uint8Array(bytes);
      const [start, length] = regions[random(regions.length)];
      copy[start + random(length)] = random(256);
      try {
        const parsed = parseFully(copy, name);
        for (const s of parsed.symbols) parsed.symbolAt(s.value);
        parsed.symbolsNamed('helper');
      } catch (error) {
        if (!(error instanceof ElfFormatError)) throw error;
      }
    }
  });
});
