// SPDX-License-Identifier: GPL-2.0-or-later
// Typed errors of the ELF reader. Every message starts with the file name,
// because a live-patch build reads many objects and "truncated" alone is useless.

import { hex } from './format.ts';

/** Base class: anything the ELF reader throws on purpose. */
export class ElfError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = new.target.name;
  }
}

/** The bytes are not a well-formed little-endian x86-64 ELF64 file. */
export class ElfFormatError extends ElfError {}

/** findSymbol found no candidate (or fewer than `sympos` candidates). */
export class SymbolNotFoundError extends ElfError {
  constructor(
    file: string,
    readonly symbol: string,
    readonly sympos?: number,
    /** How many symbols of that name there are (a sympos past them is "not found" too). */
    readonly candidates = 0,
  ) {
    super(
      file,
      sympos === undefined
        ? `symbol '${symbol}' not found`
        : `symbol '${symbol}' with sympos ${sympos} not found (${candidates} candidate${candidates === 1 ? '' : 's'})`,
    );
  }
}

/** What an ambiguity message needs to know about each candidate. */
export interface SymbolCandidate {
  readonly value: bigint;
  readonly section?: { readonly index: number; readonly name: string };
}

/**
 * findSymbol without a sympos matched several symbols, e.g. two `static`
 * functions of the same name from different translation units.
 */
export class AmbiguousSymbolError extends ElfError {
  readonly count: number;
  readonly addresses: readonly bigint[];

  constructor(
    file: string,
    readonly symbol: string,
    candidates: readonly SymbolCandidate[],
  ) {
    // The section (with its index: ld -r keeps one .text.dup per input) is part
    // of each location because in a relocatable object values are section
    // offsets, and two candidates may both be at 0x0.
    const where = candidates.map((c) => (c.section ? `${hex(c.value)} in [${c.section.index}] ${c.section.name}` : hex(c.value)));
    super(
      file,
      `symbol '${symbol}' is ambiguous: ${candidates.length} candidates at ${where.join(', ')}; ` +
        `pass a sympos (1..${candidates.length}) to choose one, as with kallsyms' sympos`,
    );
    this.count = candidates.length;
    this.addresses = candidates.map((c) => c.value);
  }
}
