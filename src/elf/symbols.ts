// SPDX-License-Identifier: GPL-2.0-or-later
// Symbol tables (Elf64_Sym), with section indices >= SHN_LORESERVE taken from
// the SHT_SYMTAB_SHNDX companion table as the gABI's extended numbering requires.

import { ELF64_SYM_SIZE, SHN_LORESERVE, SHN_UNDEF, SHN_XINDEX, SHT_SYMTAB_SHNDX } from './constants.ts';
import type { ElfImage } from './image.ts';
import { entryCount, linkedSection, readString, SYMBOL_NAME_LIMIT, type ElfSection } from './sections.ts';

export interface ElfSymbol {
  /** Position in the symbol table; relocations refer to symbols by it. */
  readonly index: number;
  readonly name: string;
  readonly value: bigint;
  readonly size: number;
  readonly type: number;
  readonly bind: number;
  readonly visibility: number;
  /**
   * st_shndx with SHN_XINDEX resolved to the real section index. Special
   * values (SHN_UNDEF, SHN_ABS, SHN_COMMON) are kept. In a file with more than
   * 0xff00 sections a real index can equal a special value, so test `section`
   * to know whether the symbol is defined in a section.
   */
  readonly shndx: number;
  /** The section the symbol is defined in; undefined for SHN_UNDEF and the special indices. */
  readonly section?: ElfSection;
}

export function readSymbols(image: ElfImage, sections: readonly ElfSection[], symtab: ElfSection): ElfSymbol[] {
  const count = entryCount(image, symtab, ELF64_SYM_SIZE);
  const strtab = linkedSection(image, sections, symtab);
  const xindex = sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === symtab.index);
  const symbols: ElfSymbol[] = [];
  for (let index = 0; index < count; index++) {
    const at = symtab.offset + index * ELF64_SYM_SIZE;
    const info = image.u8(at + 4);
    const name = readString(image, strtab, image.u32(at), SYMBOL_NAME_LIMIT, index);
    const stShndx = image.u16(at + 6);
    const extended = stShndx === SHN_XINDEX;
    let shndx = stShndx;
    if (extended) {
      if (!xindex || xindex.size < (index + 1) * 4) {
        image.fail(`symbol [${index}] ${name}: SHN_XINDEX but no SHT_SYMTAB_SHNDX entry for it`);
      }
      shndx = image.u32(xindex.offset + index * 4);
    }
    let section: ElfSection | undefined;
    if (shndx !== SHN_UNDEF && (extended || shndx < SHN_LORESERVE)) {
      section = sections[shndx];
      if (!section) image.fail(`symbol [${index}] ${name}: section index ${shndx} out of range (${sections.length} sections)`);
    }
    symbols.push({
      index,
      name,
      value: image.u64(at + 8),
      size: image.u64Number(at + 16, 'st_size'),
      type: info & 0xf,
      bind: info >> 4,
      visibility: image.u8(at + 5) & 0x3,
      shndx,
      section,
    });
  }
  return symbols;
}
