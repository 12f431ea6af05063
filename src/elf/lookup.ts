// SPDX-License-Identifier: GPL-2.0-or-later
// Symbol lookup the way the kernel's livepatch does it: by name, with a
// 1-based `sympos` to pick among same-named local symbols (kallsyms order),
// and by address, to find the function that contains an instruction.

import { STT_FUNC, STT_NOTYPE, STT_OBJECT, SHN_UNDEF } from './constants.ts';
import { AmbiguousSymbolError, SymbolNotFoundError } from './errors.ts';
import type { ElfSection } from './sections.ts';
import type { ElfSymbol } from './symbols.ts';

/** Sorted FUNC/OBJECT symbols, with the running maximum of their end addresses. */
interface AddressIndex {
  readonly symbols: readonly ElfSymbol[];
  /** maxEnd[i] = max over symbols[0..i] of end(); lets a search stop walking back. */
  readonly maxEnd: readonly bigint[];
}

export class SymbolLookup {
  private byName?: Map<string, ElfSymbol[]>;
  private readonly byAddress = new Map<ElfSection | undefined, AddressIndex>();

  constructor(
    private readonly file: string,
    private readonly symbols: readonly ElfSymbol[],
  ) {}

  /** Defined FUNC/OBJECT/NOTYPE symbols called `name`, in symbol table order. */
  named(name: string): readonly ElfSymbol[] {
    if (!this.byName) {
      this.byName = new Map();
      for (const symbol of this.symbols) {
        if (!isLookupCandidate(symbol)) continue;
        const list = this.byName.get(symbol.name);
        if (list) list.push(symbol);
        else this.byName.set(symbol.name, [symbol]);
      }
    }
    return this.byName.get(name) ?? [];
  }

  /**
   * sympos 0 or undefined: the only candidate; sympos N >= 1: the N-th one.
   * Same contract as klp_find_object_symbol() in kernel/livepatch/core.c.
   */
  find(name: string, sympos?: number): ElfSymbol {
    if (sympos !== undefined && !(Number.isInteger(sympos) && sympos >= 0)) {
      throw new RangeError(`sympos must be a non-negative integer, got ${sympos}`);
    }
    const candidates = this.named(name);
    if (!sympos) {
      if (candidates.length === 1) return candidates[0];
      if (candidates.length === 0) throw new SymbolNotFoundError(this.file, name);
      throw new AmbiguousSymbolError(this.file, name, candidates);
    }
    const symbol = candidates[sympos - 1];
    if (!symbol) throw new SymbolNotFoundError(this.file, name, sympos, candidates.length);
    return symbol;
  }

  /**
   * The FUNC or OBJECT symbol whose [value, value + size) contains `addr`;
   * zero-size symbols match only their exact value. With `section`, only
   * symbols defined in it are considered, which is what relocatable objects
   * need: there, values are section offsets and every section starts at 0.
   * Among several matches: FUNC before OBJECT, then the innermost (highest
   * value), then the first in the symbol table.
   */
  at(addr: bigint, section?: ElfSection): ElfSymbol | undefined {
    const { symbols, maxEnd } = this.addressIndex(section);
    // Last symbol starting at or before addr.
    let lo = 0;
    let hi = symbols.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (symbols[mid].value <= addr) lo = mid + 1;
      else hi = mid;
    }
    let best: ElfSymbol | undefined;
    for (let i = lo - 1; i >= 0 && maxEnd[i] > addr; i--) {
      const symbol = symbols[i];
      if (addr < end(symbol) && (!best || preferred(symbol, best))) best = symbol;
    }
    return best;
  }

  private addressIndex(section: ElfSection | undefined): AddressIndex {
    let index = this.byAddress.get(section);
    if (!index) {
      const symbols = this.symbols
        .filter((s) => (s.type === STT_FUNC || s.type === STT_OBJECT) && s.section && (!section || s.section === section))
        .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.index - b.index));
      const maxEnd: bigint[] = [];
      for (const [i, symbol] of symbols.entries()) {
        const e = end(symbol);
        maxEnd.push(i > 0 && maxEnd[i - 1] > e ? maxEnd[i - 1] : e);
      }
      index = { symbols, maxEnd };
      this.byAddress.set(section, index);
    }
    return index;
  }
}

function isLookupCandidate(symbol: ElfSymbol): boolean {
  return symbol.shndx !== SHN_UNDEF && (symbol.type === STT_FUNC || symbol.type === STT_OBJECT || symbol.type === STT_NOTYPE);
}

/** Exclusive end; a zero-size symbol covers just its own address. */
function end(symbol: ElfSymbol): bigint {
  return symbol.value + BigInt(Math.max(symbol.size, 1));
}

function preferred(a: ElfSymbol, b: ElfSymbol): boolean {
  if ((a.type === STT_FUNC) !== (b.type === STT_FUNC)) return a.type === STT_FUNC;
  if (a.value !== b.value) return a.value > b.value;
  return a.index < b.index;
}
