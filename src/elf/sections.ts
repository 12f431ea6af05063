// SPDX-License-Identifier: GPL-2.0-or-later
// Section headers (Elf64_Shdr) and string tables. Sizes and offsets are
// numbers because they index the file; addresses and flags stay 64-bit.

import { ELF64_SHDR_SIZE, KSYM_NAME_LEN, SHT_NOBITS, SHT_NULL, SHT_STRTAB } from './constants.ts';
import { hex } from './format.ts';
import type { ElfHeader } from './header.ts';
import type { ElfImage } from './image.ts';

export class ElfSection {
  readonly #bytes: Uint8Array;

  constructor(
    bytes: Uint8Array,
    readonly index: number,
    readonly name: string,
    readonly type: number,
    readonly flags: bigint,
    readonly addr: bigint,
    readonly offset: number,
    readonly size: number,
    readonly link: number,
    readonly info: number,
    readonly addralign: number,
    readonly entsize: number,
  ) {
    this.#bytes = bytes;
  }

  /** Whether the section occupies file bytes: SHT_NULL and SHT_NOBITS (.bss) do not, whatever sh_offset says. */
  get inFile(): boolean {
    return this.type !== SHT_NULL && this.type !== SHT_NOBITS;
  }

  /** A view of the section's bytes in the file; empty for SHT_NOBITS. */
  data(): Uint8Array {
    return this.inFile ? this.#bytes.subarray(this.offset, this.offset + this.size) : new Uint8Array(0);
  }
}

/** "section [3] .rela.text", for error messages. */
export function describeSection(section: ElfSection): string {
  return `section [${section.index}]${section.name ? ` ${section.name}` : ''}`;
}

/**
 * How long a name may be, and what owns it. Names are decoded into a string per symbol or
 * section; without a bound, a small file whose thousands of symbols all point at one huge name
 * would cost gigabytes of strings.
 */
export interface NameLimit {
  /** Longest accepted length in bytes, the NUL not counted. */
  readonly max: number;
  /** The bound's name, for the message: "KSYM_NAME_LEN (512)". */
  readonly bound: string;
  /** What the names belong to: the error says "symbol [index]". */
  readonly owner: 'symbol' | 'section';
}

/** Bound of a symbol name: what kallsyms and livepatch can name. */
export const SYMBOL_NAME_LIMIT: NameLimit = { max: KSYM_NAME_LEN - 1, bound: `KSYM_NAME_LEN (${KSYM_NAME_LEN})`, owner: 'symbol' };

/**
 * Bound of a section name: twice KSYM_NAME_LEN, room for the longest symbol name with the
 * prefixes sections add to it (".klp.rela.<object>..text.unlikely.<symbol>").
 */
const SECTION_NAME_LIMIT: NameLimit = { max: 2 * KSYM_NAME_LEN - 1, bound: `twice KSYM_NAME_LEN (${2 * KSYM_NAME_LEN})`, owner: 'section' };

/**
 * The NUL-terminated string at `offset` in a SHT_STRTAB section; with a limit, at most
 * `limit.max` bytes long, else an error naming the owner (the symbol or section `index`).
 */
export function readString(image: ElfImage, strtab: ElfSection, offset: number, limit?: NameLimit, index = 0): string {
  if (strtab.type !== SHT_STRTAB) image.fail(`${describeSection(strtab)} is not a string table (sh_type ${strtab.type})`);
  if (offset >= strtab.size) {
    image.fail(`string offset ${hex(offset)} past end of ${describeSection(strtab)} (${hex(strtab.size)} bytes)`);
  }
  // Search the whole file rather than a subarray: names are read by the
  // hundred thousand, and the bound is checked afterwards.
  const start = strtab.offset + offset;
  const end = image.bytes.indexOf(0, start);
  if (end < 0 || end >= strtab.offset + strtab.size) {
    image.fail(`unterminated string at ${hex(offset)} in ${describeSection(strtab)}`);
  }
  if (limit && end - start > limit.max) {
    image.fail(
      `${limit.owner} [${index}]: name at ${hex(offset)} in ${describeSection(strtab)} is ${end - start} bytes long, ` +
        `over the ${limit.max} that ${limit.bound} allows`,
    );
  }
  return image.utf8(start, end);
}

export function readSections(image: ElfImage, header: ElfHeader): ElfSection[] {
  // Names live in a section themselves, so its header is read first, unnamed.
  const shstrtab = header.shstrndx === 0 ? undefined : readSectionHeader(image, header, header.shstrndx, '');
  if (shstrtab) checkSectionData(image, shstrtab);
  const sections: ElfSection[] = [];
  for (let index = 0; index < header.shnum; index++) {
    const nameOffset = image.u32(header.shoff + index * ELF64_SHDR_SIZE);
    const name = shstrtab ? readString(image, shstrtab, nameOffset, SECTION_NAME_LIMIT, index) : '';
    const section = readSectionHeader(image, header, index, name);
    checkSectionData(image, section);
    sections.push(section);
  }
  return sections;
}

function readSectionHeader(image: ElfImage, header: ElfHeader, index: number, name: string): ElfSection {
  const at = header.shoff + index * ELF64_SHDR_SIZE;
  return new ElfSection(
    image.bytes,
    index,
    name,
    image.u32(at + 4),
    image.u64(at + 8),
    image.u64(at + 16),
    image.u64Number(at + 24, 'sh_offset'),
    image.u64Number(at + 32, 'sh_size'),
    image.u32(at + 40),
    image.u32(at + 44),
    image.u64Number(at + 48, 'sh_addralign'),
    image.u64Number(at + 56, 'sh_entsize'),
  );
}

function checkSectionData(image: ElfImage, section: ElfSection): void {
  // The description is only built on failure: this runs for every section.
  if (section.inFile && !image.inRange(section.offset, section.size)) {
    image.truncated(describeSection(section), section.offset, section.size);
  }
}

/** Checks a table section's sh_entsize and that its size is a whole number of entries. */
export function entryCount(image: ElfImage, table: ElfSection, entsize: number): number {
  if (table.entsize !== entsize) image.fail(`${describeSection(table)}: sh_entsize ${table.entsize}, expected ${entsize}`);
  if (table.size % entsize !== 0) image.fail(`${describeSection(table)}: size ${hex(table.size)} is not a multiple of ${entsize}`);
  return table.size / entsize;
}

/** The section `table.sh_link` points at, which must exist. */
export function linkedSection(image: ElfImage, sections: readonly ElfSection[], table: ElfSection): ElfSection {
  const linked = table.link === 0 ? undefined : sections[table.link];
  if (!linked) image.fail(`${describeSection(table)}: sh_link ${table.link} is not a section`);
  return linked;
}
