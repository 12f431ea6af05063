// SPDX-License-Identifier: GPL-2.0-or-later
// Writes a relocatable ELF64 with more than SHN_LORESERVE (0xff00) sections,
// so the gABI's extended numbering is in use: e_shnum 0, e_shstrndx
// SHN_XINDEX, and a SHT_SYMTAB_SHNDX table. `as` takes seconds to produce
// such a file; building it here takes milliseconds.

import {
  EM_X86_64,
  ET_REL,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHN_ABS,
  SHN_XINDEX,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
} from '../../src/elf/index.ts';

/** Number of empty .s sections; indices up to FILLER_SECTIONS are theirs. */
export const FILLER_SECTIONS = 0xff08;

class StringTable {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private size = 1;
  add(name: string): number {
    const offset = this.size;
    const bytes = Buffer.from(`${name}\0`);
    this.parts.push(bytes);
    this.size += bytes.length;
    return offset;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

interface Section {
  name: number;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
}

/**
 * Symbols: [1] lo, FUNC LOCAL in section 1; [2] hi, OBJECT GLOBAL in the last
 * filler section (needs SHN_XINDEX); [3] abs, NOTYPE GLOBAL SHN_ABS.
 */
export function buildExtendedNumberingObject(): Uint8Array {
  const shstrtab = new StringTable();
  const strtab = new StringTable();
  const fillerName = shstrtab.add('.s');
  const symtabIndex = FILLER_SECTIONS + 1;
  const strtabIndex = symtabIndex + 1;
  const shndxIndex = strtabIndex + 1;
  const shstrtabIndex = shndxIndex + 1;
  const shnum = shstrtabIndex + 1;

  const symbols = [
    { name: 0, info: 0, shndx: 0, value: 0n, size: 0n, xindex: 0 },
    { name: strtab.add('lo'), info: (STB_LOCAL << 4) | STT_FUNC, shndx: 1, value: 0x10n, size: 4n, xindex: 0 },
    { name: strtab.add('hi'), info: (STB_GLOBAL << 4) | STT_OBJECT, shndx: SHN_XINDEX, value: 0x20n, size: 8n, xindex: FILLER_SECTIONS },
    { name: strtab.add('abs'), info: (STB_GLOBAL << 4) | STT_NOTYPE, shndx: SHN_ABS, value: 0xffffffff81000000n, size: 0n, xindex: 0 },
  ];
  const symtabBytes = Buffer.alloc(symbols.length * 24);
  const shndxBytes = Buffer.alloc(symbols.length * 4);
  symbols.forEach((s, i) => {
    symtabBytes.writeUInt32LE(s.name, i * 24);
    symtabBytes.writeUInt8(s.info, i * 24 + 4);
    symtabBytes.writeUInt16LE(s.shndx, i * 24 + 6);
    symtabBytes.writeBigUInt64LE(s.value, i * 24 + 8);
    symtabBytes.writeBigUInt64LE(s.size, i * 24 + 16);
    shndxBytes.writeUInt32LE(s.xindex, i * 4);
  });
  const symtabName = shstrtab.add('.symtab');
  const strtabName = shstrtab.add('.strtab');
  const shndxName = shstrtab.add('.symtab_shndx');
  const shstrtabName = shstrtab.add('.shstrtab');
  const strtabBytes = strtab.bytes();
  const shstrtabBytes = shstrtab.bytes();

  // Layout: header, symtab, symtab_shndx, strtab, shstrtab, section headers.
  const symtabOffset = 64;
  const shndxOffset = symtabOffset + symtabBytes.length;
  const strtabOffset = shndxOffset + shndxBytes.length;
  const shstrtabOffset = strtabOffset + strtabBytes.length;
  const shoff = (shstrtabOffset + shstrtabBytes.length + 7) & ~7;

  const sections: Section[] = [
    // Section 0 carries the real e_shnum (sh_size) and e_shstrndx (sh_link).
    { name: 0, type: SHT_NULL, flags: 0n, offset: 0, size: shnum, link: shstrtabIndex, info: 0, align: 0, entsize: 0 },
  ];
  for (let i = 1; i <= FILLER_SECTIONS; i++) {
    sections.push({
      name: fillerName,
      type: SHT_PROGBITS,
      flags: SHF_ALLOC | SHF_EXECINSTR,
      offset: 64,
      size: 0,
      link: 0,
      info: 0,
      align: 1,
      entsize: 0,
    });
  }
  sections.push(
    {
      name: symtabName,
      type: SHT_SYMTAB,
      flags: 0n,
      offset: symtabOffset,
      size: symtabBytes.length,
      link: strtabIndex,
      info: 2,
      align: 8,
      entsize: 24,
    },
    {
      name: strtabName,
      type: SHT_STRTAB,
      flags: 0n,
      offset: strtabOffset,
      size: strtabBytes.length,
      link: 0,
      info: 0,
      align: 1,
      entsize: 0,
    },
    {
      name: shndxName,
      type: SHT_SYMTAB_SHNDX,
      flags: 0n,
      offset: shndxOffset,
      size: shndxBytes.length,
      link: symtabIndex,
      info: 0,
      align: 4,
      entsize: 4,
    },
    {
      name: shstrtabName,
      type: SHT_STRTAB,
      flags: 0n,
      offset: shstrtabOffset,
      size: shstrtabBytes.length,
      link: 0,
      info: 0,
      align: 1,
      entsize: 0,
    },
  );

  const out = Buffer.alloc(shoff + shnum * 64);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  out.writeUInt16LE(ET_REL, 16);
  out.writeUInt16LE(EM_X86_64, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(0, 60);
  out.writeUInt16LE(SHN_XINDEX, 62);
  out.set(symtabBytes, symtabOffset);
  out.set(shndxBytes, shndxOffset);
  out.set(strtabBytes, strtabOffset);
  out.set(shstrtabBytes, shstrtabOffset);
  sections.forEach((s, i) => {
    const at = shoff + i * 64;
    out.writeUInt32LE(s.name, at);
    out.writeUInt32LE(s.type, at + 4);
    out.writeBigUInt64LE(s.flags, at + 8);
    out.writeBigUInt64LE(BigInt(s.offset), at + 24);
    out.writeBigUInt64LE(BigInt(s.size), at + 32);
    out.writeUInt32LE(s.link, at + 40);
    out.writeUInt32LE(s.info, at + 44);
    out.writeBigUInt64LE(BigInt(s.align), at + 48);
    out.writeBigUInt64LE(BigInt(s.entsize), at + 56);
  });
  return out;
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
  const header = (i: number, s: Omit<Section, 'align'> & { align?: number }) => {
    const at = shoff + i * 64;
    out.writeUInt32LE(s.name, at);
    out.writeUInt32LE(s.type, at + 4);
    out.writeBigUInt64LE(s.flags, at + 8);
    out.writeBigUInt64LE(BigInt(s.offset), at + 24);
    out.writeBigUInt64LE(BigInt(s.size), at + 32);
    out.writeUInt32LE(s.link, at + 40);
    out.writeUInt32LE(s.info, at + 44);
    out.writeBigUInt64LE(BigInt(s.align ?? 1), at + 48);
    out.writeBigUInt64LE(BigInt(s.entsize), at + 56);
  };
  header(1, {
    name: symtabName,
    type: SHT_SYMTAB,
    flags: 0n,
    offset: symtabOffset,
    size: symtab.length,
    link: 2,
    info: 1,
    align: 8,
    entsize: 24,
  });
  header(2, { name: strtabName, type: SHT_STRTAB, flags: 0n, offset: strtabOffset, size: strtab.length, link: 0, info: 0, entsize: 0 });
  for (let i = 3; i < shnum; i++) header(i, { name: 1, type: SHT_PROGBITS, flags: 0n, offset: 64, size: 0, link: 0, info: 0, entsize: 0 });
  return out;
}
