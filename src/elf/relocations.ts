// SPDX-License-Identifier: GPL-2.0-or-later
// Relocation sections (SHT_RELA, Elf64_Rela). x86-64 uses RELA only; the
// addend is signed (a call's PLT32 carries -4), hence getBigInt64.

import { ELF64_RELA_SIZE, SHT_DYNSYM, SHT_SYMTAB } from './constants.ts';
import type { ElfImage } from './image.ts';
import { describeSection, entryCount, linkedSection, type ElfSection } from './sections.ts';
import type { ElfSymbol } from './symbols.ts';

export interface ElfRelocation {
  /** r_offset: a section offset in ET_REL files, an address in linked ones. */
  readonly offset: bigint;
  readonly type: number;
  readonly symbol: ElfSymbol;
  readonly addend: bigint;
}

export interface ElfRelocationSection {
  /** The SHT_RELA section itself. */
  readonly section: ElfSection;
  /** The section the relocations patch (sh_info). */
  readonly target: ElfSection;
  readonly entries: readonly ElfRelocation[];
}

export function readRelocations(
  image: ElfImage,
  sections: readonly ElfSection[],
  rela: ElfSection,
  symbolTable: (symtab: ElfSection) => readonly ElfSymbol[],
): ElfRelocationSection {
  const count = entryCount(image, rela, ELF64_RELA_SIZE);
  const symtab = linkedSection(image, sections, rela);
  if (symtab.type !== SHT_SYMTAB && symtab.type !== SHT_DYNSYM) {
    image.fail(`${describeSection(rela)}: sh_link ${rela.link} is not a symbol table`);
  }
  const target = sections[rela.info];
  if (rela.info === 0 || !target) image.fail(`${describeSection(rela)}: sh_info ${rela.info} is not a section`);
  const symbols = symbolTable(symtab);
  const entries: ElfRelocation[] = [];
  for (let i = 0; i < count; i++) {
    const at = rela.offset + i * ELF64_RELA_SIZE;
    const info = image.u64(at + 8);
    // ELF64_R_SYM / ELF64_R_TYPE.
    const symbolIndex = Number(info >> 32n);
    const symbol = symbols[symbolIndex];
    if (!symbol) image.fail(`${describeSection(rela)} entry ${i}: symbol index ${symbolIndex} out of range (${symbols.length} symbols)`);
    entries.push({ offset: image.u64(at), type: Number(info & 0xffffffffn), symbol, addend: image.i64(at + 16) });
  }
  return { section: rela, target, entries };
}
