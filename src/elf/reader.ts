// SPDX-License-Identifier: GPL-2.0-or-later
// ElfFile: a validated, read-only view of one little-endian x86-64 ELF64 file
// (relocatable objects, modules, vmlinux). Headers are checked eagerly;
// symbol tables and relocations are decoded on first use and then cached.

import { readFileSync } from 'node:fs';
import { SHT_RELA, SHT_SYMTAB } from './constants.ts';
import { readHeader } from './header.ts';
import { ElfImage } from './image.ts';
import { SymbolLookup } from './lookup.ts';
import { readRelocations, type ElfRelocationSection } from './relocations.ts';
import { readSections, readString, type ElfSection } from './sections.ts';
import { readSegments, type ElfSegment } from './segments.ts';
import { readSymbols, type ElfSymbol } from './symbols.ts';

export class ElfFile {
  /** e_type: ET_REL, ET_EXEC, ... */
  readonly type: number;
  readonly entry: bigint;
  readonly sections: readonly ElfSection[];
  readonly segments: readonly ElfSegment[];

  private readonly image: ElfImage;
  private readonly symbolTables = new Map<ElfSection, readonly ElfSymbol[]>();
  private relocationSections?: readonly ElfRelocationSection[];
  private lookup?: SymbolLookup;

  private constructor(image: ElfImage) {
    this.image = image;
    const header = readHeader(image);
    this.type = header.type;
    this.entry = header.entry;
    this.sections = readSections(image, header);
    this.segments = readSegments(image, header);
  }

  /** Parses `bytes`; `fileName` is only used to name the file in errors. */
  static parse(bytes: Uint8Array, fileName: string): ElfFile {
    return new ElfFile(new ElfImage(fileName, bytes));
  }

  static read(path: string): ElfFile {
    return ElfFile.parse(readFileSync(path), path);
  }

  get fileName(): string {
    return this.image.file;
  }

  /** The first section called `name`. */
  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** All sections called `name`; ld -r output can hold several. */
  sectionsByName(name: string): ElfSection[] {
    return this.sections.filter((s) => s.name === name);
  }

  /** The NUL-terminated string at `offset` in a string table section. */
  stringAt(strtab: ElfSection, offset: number): string {
    return readString(this.image, strtab, offset);
  }

  /** The .symtab (SHT_SYMTAB) symbols, index 0 being the null symbol; empty if stripped. */
  get symbols(): readonly ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    return symtab ? this.symbolTable(symtab) : [];
  }

  /**
   * Every SHT_RELA section that applies to a section (sh_info != 0), with its
   * decoded entries. A dynamic .rela.dyn, which applies to the whole image
   * rather than one section, has sh_info 0 and is not included.
   */
  relocations(): readonly ElfRelocationSection[] {
    this.relocationSections ??= this.sections
      .filter((s) => s.type === SHT_RELA && s.info !== 0)
      .map((rela) => readRelocations(this.image, this.sections, rela, (symtab) => this.symbolTable(symtab)));
    return this.relocationSections;
  }

  /**
   * The symbol `name` as livepatch resolves it: with sympos 0 or undefined it
   * must be unique (else AmbiguousSymbolError); sympos N >= 1 picks the N-th
   * defined FUNC/OBJECT/NOTYPE symbol of that name in symbol table order.
   */
  findSymbol(name: string, sympos?: number): ElfSymbol {
    return this.symbolLookup().find(name, sympos);
  }

  /** The candidates findSymbol chooses from, in symbol table order. */
  symbolsNamed(name: string): readonly ElfSymbol[] {
    return this.symbolLookup().named(name);
  }

  /**
   * The FUNC (preferred) or OBJECT symbol containing `addr`. In a relocatable
   * object pass the section, since values there are offsets into it.
   */
  symbolAt(addr: bigint, section?: ElfSection): ElfSymbol | undefined {
    return this.symbolLookup().at(addr, section);
  }

  private symbolTable(symtab: ElfSection): readonly ElfSymbol[] {
    let symbols = this.symbolTables.get(symtab);
    if (!symbols) {
      symbols = readSymbols(this.image, this.sections, symtab);
      this.symbolTables.set(symtab, symbols);
    }
    return symbols;
  }

  private symbolLookup(): SymbolLookup {
    this.lookup ??= new SymbolLookup(this.image.file, this.symbols);
    return this.lookup;
  }
}
