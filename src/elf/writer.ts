// SPDX-License-Identifier: GPL-2.0-or-later
// A writer of relocatable x86-64 objects (ET_REL), for tools that rewrite what gcc and objtool
// produced (klp-convert). The object is described by reference, not by index: a relocation
// names its symbol, a symbol its section, a relocation section its target, so a tool can drop,
// add and rename things without renumbering anything itself. The writer numbers them: section
// 0 is SHT_NULL, the sections follow in the order given, then .symtab, .strtab and .shstrtab;
// the symbol table starts with the null symbol and puts every local symbol before the first
// global (sh_info), as the gABI requires. An object of SHN_LORESERVE sections or more gets the
// gABI's extended numbering (e_shnum 0, e_shstrndx SHN_XINDEX, the real values in section 0,
// a .symtab_shndx table before .shstrtab). SHT_GROUP is not supported: a caller that meets it
// refuses the input.

import {
  EM_X86_64,
  ET_REL,
  ELF64_EHDR_SIZE,
  ELF64_RELA_SIZE,
  ELF64_SHDR_SIZE,
  ELF64_SYM_SIZE,
  SHF_INFO_LINK,
  SHN_LORESERVE,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_LOCAL,
} from './constants.ts';

/** A section with its bytes (SHT_NOBITS: `size` only). */
export interface ObjSection {
  readonly kind: 'data';
  name: string;
  type: number;
  flags: bigint;
  addralign: number;
  entsize: number;
  data: Uint8Array;
  /** sh_size of a SHT_NOBITS section (ignored for the others: data.length). */
  size?: number;
  /** sh_link / sh_info naming another section (SHF_LINK_ORDER and the like), or plain numbers. */
  link?: ObjSection | number;
  info?: ObjSection | number;
}

export interface ObjSymbol {
  name: string;
  value: bigint;
  size: number;
  type: number;
  bind: number;
  visibility: number;
  /** The section it is defined in; absent: `shndx` (SHN_UNDEF, SHN_ABS, SHN_LIVEPATCH, ...). */
  section?: ObjSection;
  shndx?: number;
}

export interface ObjRelocation {
  offset: bigint;
  type: number;
  symbol: ObjSymbol;
  addend: bigint;
}

/** A SHT_RELA section: linked to the symbol table, sh_info its target. */
export interface ObjRelaSection {
  readonly kind: 'rela';
  name: string;
  flags: bigint;
  target: ObjSection;
  entries: ObjRelocation[];
}

export interface RelocatableObject {
  /** Sections in output order (the writer adds the null section and the symbol and string tables). */
  sections: Array<ObjSection | ObjRelaSection>;
  /** Symbols without the null symbol, in any order of binding (locals are moved first). */
  symbols: ObjSymbol[];
}

class StringTable {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private size = 1;
  private readonly seen = new Map<string, number>();
  add(s: string): number {
    if (!s) return 0;
    const known = this.seen.get(s);
    if (known !== undefined) return known;
    const offset = this.size;
    const bytes = Buffer.from(`${s}\0`, 'latin1');
    this.parts.push(bytes);
    this.size += bytes.length;
    this.seen.set(s, offset);
    return offset;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A section header's fields, numbered (sh_addr is always 0 in a relocatable object). */
export interface SectionHeader {
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

interface Header extends SectionHeader {
  bytes?: Uint8Array;
}

/** Writes one ELF64 section header at `at`. */
export function writeSectionHeader(out: Buffer, at: number, h: SectionHeader): void {
  out.writeUInt32LE(h.name, at);
  out.writeUInt32LE(h.type, at + 4);
  out.writeBigUInt64LE(h.flags, at + 8);
  out.writeBigUInt64LE(BigInt(h.offset), at + 24);
  out.writeBigUInt64LE(BigInt(h.size), at + 32);
  out.writeUInt32LE(h.link, at + 40);
  out.writeUInt32LE(h.info, at + 44);
  out.writeBigUInt64LE(BigInt(h.align), at + 48);
  out.writeBigUInt64LE(BigInt(h.entsize), at + 56);
}

function alignUp(n: number, a: number): number {
  return a > 1 ? Math.ceil(n / a) * a : n;
}

/** Serialises `obj` into the bytes of an ELF64 little-endian x86-64 relocatable object. */
export function writeRelocatable(obj: RelocatableObject): Uint8Array {
  // null, ..., .symtab, .strtab, .shstrtab; extended numbering adds .symtab_shndx
  const extended = obj.sections.length + 4 >= SHN_LORESERVE;
  const index = new Map<ObjSection | ObjRelaSection, number>();
  obj.sections.forEach((s, i) => index.set(s, i + 1));
  const symtabIndex = obj.sections.length + 1;
  const sectionIndex = (s: ObjSection | number | undefined, what: string): number => {
    if (s === undefined) return 0;
    if (typeof s === 'number') return s;
    const i = index.get(s);
    if (i === undefined) throw new RangeError(`${what} refers to section ${s.name}, which is not in the object`);
    return i;
  };

  // symbols: null, locals, then the rest, each group in the order given
  const ordered = [...obj.symbols.filter((s) => s.bind === STB_LOCAL), ...obj.symbols.filter((s) => s.bind !== STB_LOCAL)];
  const symIndex = new Map<ObjSymbol, number>();
  ordered.forEach((s, i) => symIndex.set(s, i + 1));
  const strtab = new StringTable();
  const symtab = Buffer.alloc((ordered.length + 1) * ELF64_SYM_SIZE);
  // st_shndx has 16 bits: a section index from SHN_LORESERVE up goes in .symtab_shndx
  const shndxTable = Buffer.alloc(extended ? (ordered.length + 1) * 4 : 0);
  ordered.forEach((s, i) => {
    const at = (i + 1) * ELF64_SYM_SIZE;
    symtab.writeUInt32LE(strtab.add(s.name), at);
    symtab.writeUInt8(((s.bind & 0xf) << 4) | (s.type & 0xf), at + 4);
    symtab.writeUInt8(s.visibility & 3, at + 5);
    const shndx = s.section ? sectionIndex(s.section, `symbol ${s.name}`) : (s.shndx ?? 0);
    if (s.section && shndx >= SHN_LORESERVE) {
      symtab.writeUInt16LE(SHN_XINDEX, at + 6);
      shndxTable.writeUInt32LE(shndx, (i + 1) * 4);
    } else {
      symtab.writeUInt16LE(shndx, at + 6);
    }
    symtab.writeBigUInt64LE(BigInt.asUintN(64, s.value), at + 8);
    symtab.writeBigUInt64LE(BigInt(s.size), at + 16);
  });
  const firstGlobal = 1 + obj.symbols.filter((s) => s.bind === STB_LOCAL).length;

  const shstrtab = new StringTable();
  const headers: Header[] = [{ name: 0, type: 0, flags: 0n, offset: 0, size: 0, link: 0, info: 0, align: 0, entsize: 0 }];
  for (const s of obj.sections) {
    if (s.kind === 'rela') {
      const bytes = Buffer.alloc(s.entries.length * ELF64_RELA_SIZE);
      s.entries.forEach((r, i) => {
        const sym = symIndex.get(r.symbol);
        if (sym === undefined) throw new RangeError(`${s.name}: relocation against symbol ${r.symbol.name}, which is not in the object`);
        bytes.writeBigUInt64LE(r.offset, i * ELF64_RELA_SIZE);
        bytes.writeBigUInt64LE((BigInt(sym) << 32n) | BigInt(r.type >>> 0), i * ELF64_RELA_SIZE + 8);
        bytes.writeBigInt64LE(r.addend, i * ELF64_RELA_SIZE + 16);
      });
      headers.push({
        name: shstrtab.add(s.name),
        type: SHT_RELA,
        flags: s.flags | SHF_INFO_LINK,
        offset: 0,
        size: bytes.length,
        link: symtabIndex,
        info: sectionIndex(s.target, s.name),
        align: 8,
        entsize: ELF64_RELA_SIZE,
        bytes,
      });
    } else {
      headers.push({
        name: shstrtab.add(s.name),
        type: s.type,
        flags: s.flags,
        offset: 0,
        size: s.type === SHT_NOBITS ? (s.size ?? 0) : s.data.length,
        link: sectionIndex(s.link, s.name),
        info: sectionIndex(s.info, s.name),
        align: s.addralign,
        entsize: s.entsize,
        bytes: s.type === SHT_NOBITS ? undefined : s.data,
      });
    }
  }
  headers.push(table('.symtab', SHT_SYMTAB, symtab, { link: symtabIndex + 1, info: firstGlobal, align: 8, entsize: ELF64_SYM_SIZE }));
  headers.push(table('.strtab', SHT_STRTAB, strtab.bytes()));
  if (extended) headers.push(table('.symtab_shndx', SHT_SYMTAB_SHNDX, shndxTable, { link: symtabIndex, align: 4, entsize: 4 }));
  const shstrIndex = headers.length;
  shstrtab.add('.shstrtab'); // its own name goes in before its bytes are taken
  headers.push(table('.shstrtab', SHT_STRTAB, shstrtab.bytes()));

  function table(name: string, type: number, bytes: Buffer, f: Partial<Header> = {}): Header {
    return {
      name: shstrtab.add(name),
      type,
      flags: 0n,
      offset: 0,
      size: bytes.length,
      link: 0,
      info: 0,
      align: 1,
      entsize: 0,
      bytes,
      ...f,
    };
  }

  // file layout: header, section bytes (each at its alignment), section header table
  let at = ELF64_EHDR_SIZE;
  for (const h of headers.slice(1)) {
    at = alignUp(at, Math.max(h.align, 1));
    h.offset = at;
    if (h.bytes) at += h.bytes.length;
  }
  const shoff = alignUp(at, 8);
  const out = Buffer.alloc(shoff + headers.length * ELF64_SHDR_SIZE);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // ELFCLASS64, little-endian, EV_CURRENT
  out.writeUInt16LE(ET_REL, 16);
  out.writeUInt16LE(EM_X86_64, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(ELF64_EHDR_SIZE, 52);
  out.writeUInt16LE(ELF64_SHDR_SIZE, 58);
  if (extended) {
    // the real counts live in section 0: sh_size for e_shnum, sh_link for e_shstrndx
    headers[0].size = headers.length;
    headers[0].link = shstrIndex;
  }
  out.writeUInt16LE(extended ? 0 : headers.length, 60);
  out.writeUInt16LE(extended ? SHN_XINDEX : shstrIndex, 62);
  headers.forEach((h, i) => {
    if (h.bytes) out.set(h.bytes, h.offset);
    writeSectionHeader(out, shoff + i * ELF64_SHDR_SIZE, h);
  });
  return out;
}
