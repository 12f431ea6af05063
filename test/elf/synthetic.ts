// SPDX-License-Identifier: GPL-2.0-or-later
// Relocatable objects the toolchain would not make, or makes slowly, for the reader's tests.

import {
  EM_X86_64,
  ET_REL,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHN_ABS,
  SHT_PROGBITS,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  writeRelocatable,
  writeSectionHeader,
  type ObjSection,
  type SectionHeader,
} from '../../src/elf/index.ts';

/** Number of empty .s sections; indices up to FILLER_SECTIONS are theirs. */
export const FILLER_SECTIONS = 0xff08;

/**
 * More than SHN_LORESERVE (0xff00) sections, so the gABI's extended numbering is in use:
 * e_shnum 0, e_shstrndx SHN_XINDEX, and a SHT_SYMTAB_SHNDX table (`as` takes seconds to produce
 * such a file; this takes milliseconds). Symbols: [1] lo, FUNC LOCAL in section 1; [2] hi,
 * OBJECT GLOBAL in the last filler section (needs SHN_XINDEX); [3] abs, NOTYPE GLOBAL SHN_ABS.
 */
export function buildExtendedNumberingObject(): Uint8Array {
  const sections: ObjSection[] = [];
  for (let i = 1; i <= FILLER_SECTIONS; i++) {
    sections.push({
      kind: 'data',
      name: '.s',
      type: SHT_PROGBITS,
      flags: SHF_ALLOC | SHF_EXECINSTR,
      addralign: 1,
      entsize: 0,
      data: new Uint8Array(),
    });
  }
  const sym = { size: 0, visibility: 0 };
  return writeRelocatable({
    sections,
    symbols: [
      { ...sym, name: 'lo', value: 0x10n, size: 4, type: STT_FUNC, bind: STB_LOCAL, section: sections[0] },
      { ...sym, name: 'hi', value: 0x20n, size: 8, type: STT_OBJECT, bind: STB_GLOBAL, section: sections[FILLER_SECTIONS - 1] },
      { ...sym, name: 'abs', value: 0xffffffff81000000n, type: STT_NOTYPE, bind: STB_GLOBAL, shndx: SHN_ABS },
    ],
  });
}

/**
 * A small relocatable object whose names are all one huge string: `symbols` symbols and
 * `sections` extra sections share the name at offset 1 of a single string table (which serves
 * as .strtab and .shstrtab both), `nameLength` bytes of 'A'. A reader that decodes each name
 * into a string of its own needs symbols x nameLength bytes for a file of about nameLength.
 */
export function buildSharedNameObject(opts: { nameLength: number; symbols: number; sections: number }): Uint8Array {
  const tail = '\0.symtab\0.strtab\0';
  const strtab = Buffer.alloc(1 + opts.nameLength + tail.length);
  strtab.fill(0x41, 1, 1 + opts.nameLength);
  strtab.write(tail, 1 + opts.nameLength, 'latin1');
  const symtabName = 1 + opts.nameLength + 1;
  const strtabName = symtabName + '.symtab\0'.length;
  const nsyms = 1 + opts.symbols;
  const symtab = Buffer.alloc(nsyms * 24);
  for (let i = 1; i < nsyms; i++) {
    symtab.writeUInt32LE(1, i * 24);
    symtab.writeUInt8((STB_GLOBAL << 4) | STT_FUNC, i * 24 + 4);
    symtab.writeUInt16LE(SHN_ABS, i * 24 + 6);
  }
  const symtabOffset = 64;
  const strtabOffset = symtabOffset + symtab.length;
  const shoff = (strtabOffset + strtab.length + 7) & ~7;
  // [0] null, [1] .symtab, [2] the string table, [3...] the sections named with the huge name
  const shnum = 3 + opts.sections;
  const out = Buffer.alloc(shoff + shnum * 64);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  out.writeUInt16LE(ET_REL, 16);
  out.writeUInt16LE(EM_X86_64, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(shnum, 60);
  out.writeUInt16LE(2, 62);
  out.set(symtab, symtabOffset);
  out.set(strtab, strtabOffset);
  const header = (i: number, h: Pick<SectionHeader, 'name' | 'type' | 'offset' | 'size'> & Partial<SectionHeader>) =>
    writeSectionHeader(out, shoff + i * 64, { flags: 0n, link: 0, info: 0, align: 1, entsize: 0, ...h });
  header(1, { name: symtabName, type: SHT_SYMTAB, offset: symtabOffset, size: symtab.length, link: 2, info: 1, align: 8, entsize: 24 });
  header(2, { name: strtabName, type: SHT_STRTAB, offset: strtabOffset, size: strtab.length });
  for (let i = 3; i < shnum; i++) header(i, { name: 1, type: SHT_PROGBITS, offset: 64, size: 0 });
  return out;
}
