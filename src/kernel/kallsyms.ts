// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kallsyms: addresses as the kernel prints them, "function+0xoff/0xsize [module]". The one
 * symbolizer of the lab: the kernel's own reports (oops, WARN), ftrace, the unwinder's users
 * and the CLI all print through here.
 *
 * Stack traces (Symbolizer): like kallsyms, a symbol's size is the distance to the next text
 * symbol (kallsyms keeps no sizes), and untyped entry-code labels count as symbols, since entry
 * code is where traces end. A return address is printed for the call it follows (%pB: look up
 * address - 1 and add the 1 back), so a call at the very end of a function is not shown as
 * the next function.
 */
import { type ElfFile, type ElfSection, SHF_EXECINSTR, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_NOTYPE } from '../elf/index.ts';
import type { KernelImage } from './image.ts';

interface Sym {
  name: string;
  address: bigint;
  rank: number;
}

/** The text symbols of one image or module, sorted, with kallsyms-style sizes. */
export class SymbolTable {
  private readonly starts: bigint[];
  private readonly names: string[];
  /** Exclusive end of the covered text (the last symbol extends to it). */
  readonly end: bigint;

  private constructor(
    readonly module: string | undefined,
    syms: Sym[],
    readonly start: bigint,
    end: bigint,
  ) {
    syms.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.rank - b.rank));
    // one name per address: the best-ranked (function over label, global over local)
    const starts: bigint[] = [];
    const names: string[] = [];
    for (const s of syms) {
      if (starts.length && starts[starts.length - 1] === s.address) continue;
      starts.push(s.address);
      names.push(s.name);
    }
    this.starts = starts;
    this.names = names;
    this.end = end;
  }

  /**
   * Symbols of the executable sections of an ELF file; `place` gives a relocatable object's
   * section addresses (a module), and `module` the name printed in brackets.
   */
  static fromElf(elf: ElfFile, opts: { module?: string; place?: (s: ElfSection) => bigint | undefined } = {}): SymbolTable {
    const syms: Sym[] = [];
    let lo: bigint | undefined;
    let hi: bigint | undefined;
    const base = (s: ElfSection) => (opts.place ? opts.place(s) : s.addr);
    for (const s of elf.sections) {
      if (!(s.flags & SHF_EXECINSTR) || !s.size) continue;
      const b = base(s);
      if (b === undefined) continue;
      if (lo === undefined || b < lo) lo = b;
      const e = b + BigInt(s.size);
      if (hi === undefined || e > hi) hi = e;
    }
    for (const sym of elf.symbols) {
      if (!sym.section || !sym.name || !(sym.section.flags & SHF_EXECINSTR)) continue;
      if (sym.type !== STT_FUNC && sym.type !== STT_NOTYPE) continue;
      // linker-script markers (_stext, _etext, ...) are not code
      if (sym.type === STT_NOTYPE && sym.size === 0 && /^_+[a-z]*text$|^_text$|^_end$/.test(sym.name)) continue;
      const b = base(sym.section);
      if (b === undefined) continue;
      const address = opts.place ? b + sym.value : sym.value;
      const global = sym.bind === STB_GLOBAL || sym.bind === STB_WEAK;
      // a module's init_module/cleanup_module are aliases module_init()/module_exit() make of
      // the author's functions: reports name the author's, as the kernel's module kallsyms does
      const alias = opts.module !== undefined && (sym.name === 'init_module' || sym.name === 'cleanup_module');
      const rank = (sym.type === STT_FUNC ? 0 : 2) + (global ? 0 : 1) + (alias ? 4 : 0);
      syms.push({ name: sym.name, address, rank });
    }
    return new SymbolTable(opts.module, syms, lo ?? 0n, hi ?? 0n);
  }

  /** One symbol covering [start, start + size), printed with `module` (ftrace's trampolines). */
  static single(module: string, name: string, start: bigint, size: number): SymbolTable {
    return new SymbolTable(module, [{ name, address: start, rank: 0 }], start, start + BigInt(size));
  }

  /** Index of the symbol containing address, or -1. */
  private indexOf(address: bigint): number {
    if (address < this.start || address >= this.end) return -1;
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    if (hi < 0 || s[0] > address) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid] <= address) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** { name, offset, size } of the symbol containing address. */
  resolve(address: bigint): { name: string; offset: bigint; size: bigint; module?: string } | undefined {
    const i = this.indexOf(address);
    if (i < 0) return undefined;
    const start = this.starts[i];
    const next = i + 1 < this.starts.length ? this.starts[i + 1] : this.end;
    return { name: this.names[i], offset: address - start, size: next - start, module: this.module };
  }
}

function format(r: { name: string; offset: bigint; size: bigint; module?: string }, adjust = 0n): string {
  return `${r.name}+0x${(r.offset + adjust).toString(16)}/0x${r.size.toString(16)}${r.module ? ` [${r.module}]` : ''}`;
}

/** Symbolizes against an image's table and any module tables (searched in order). */
export class Symbolizer {
  private readonly tables: SymbolTable[];

  constructor(image: SymbolTable, modules: SymbolTable[] = []) {
    this.tables = [image, ...modules];
  }

  addModule(t: SymbolTable): void {
    this.tables.push(t);
  }

  removeModule(name: string): void {
    const i = this.tables.findIndex((t) => t.module === name);
    if (i > 0) this.tables.splice(i, 1);
  }

  /** Drops one table added with addModule (several may share a module name). */
  removeTable(t: SymbolTable): void {
    const i = this.tables.indexOf(t);
    if (i > 0) this.tables.splice(i, 1);
  }

  private find(address: bigint) {
    for (const t of this.tables) {
      const r = t.resolve(address);
      if (r) return r;
    }
    return undefined;
  }

  /** "function+0xoff/0xsize [module]" (%pS), or the bare hex address. */
  symbolize(address: bigint): string {
    const r = this.find(address);
    return r ? format(r) : `0x${address.toString(16)}`;
  }

  /** The same for a return address (%pB): resolved at address - 1, printed at address. */
  symbolizeReturn(address: bigint): string {
    const r = this.find(address - 1n);
    return r ? format(r, 1n) : `0x${address.toString(16)}`;
  }
}

const imageTables = new WeakMap<ElfFile, SymbolTable>();

/** A symbolizer for a linked image (its table built once per file). */
export function imageSymbolizer(elf: ElfFile): Symbolizer {
  let t = imageTables.get(elf);
  if (!t) {
    t = SymbolTable.fromElf(elf);
    imageTables.set(elf, t);
  }
  return new Symbolizer(t);
}

/**
 * One image address the way ftrace and the reports name a site: the image's symbol table
 * (functions and objects, plus sized or labelled entry code) with the symbol's own size.
 */
export function symbolize(image: KernelImage, address: bigint): string {
  const sym = image.symbolAt(address);
  if (!sym) return `0x${address.toString(16)}`;
  const off = address - sym.value;
  return `${sym.name}+0x${off.toString(16)}/0x${sym.size.toString(16)}`;
}
