// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ORC tables: the entries of .orc_unwind_ip / .orc_unwind of a linked image or of a relocatable
 * object (a patch module, placed at addresses its loader chose), sorted the way the kernel's
 * build sorts them, and a lookup that answers "which entry covers this address" quickly.
 *
 * The linked table is neither sorted nor free of duplicates (a section's terminator meets the
 * next object's first entry), so entries are ordered by address with terminators first among
 * equal addresses: a lookup takes the last entry at or below an address and so prefers the real
 * entry. The lookup first consults a small index over fixed-size blocks of text (the idea of the
 * kernel's orc_lookup), which narrows the binary search to the few entries of one block.
 *
 * Addresses are kept as Numbers relative to the table's base: the hot path never allocates.
 */
import { ElfFile, type ElfSection, ET_EXEC, ET_REL, SHF_EXECINSTR, SHT_NOBITS, SHT_NULL, STT_SECTION } from '../elf/index.ts';
import { decodeBits, isTerminator, ORC_ENTRY_SIZE, ORC_IP_SIZE, type OrcEntry, type OrcKind, type OrcLayout } from './format.ts';

/** The kernel's LOOKUP_BLOCK_ORDER: one index slot per 256 bytes of text. */
export const LOOKUP_BLOCK_ORDER = 8;

/** A file's ORC cannot be read: the message names the file and, when one is at fault, the section. */
export class OrcTableError extends Error {
  constructor(
    readonly file: string,
    message: string,
    /** "section [5] .orc_unwind", when the problem is in one section. */
    readonly section?: string,
  ) {
    super(`${file}: ${section ? `${section}: ` : ''}${message}`);
    this.name = 'OrcTableError';
  }
}

/** One entry of a file, in file order, with its absolute address (before sorting). */
export interface RawOrcEntry extends OrcEntry {
  address: bigint;
}

/**
 * The layout a file's ORC uses. A 6.4+ kernel or module carries an .orc_header section; a bare
 * object objtool just annotated has none, so then the entries decide: each layout leaves some
 * bit patterns unused, and an entry in one of them rules that layout out. 6.1 writes an
 * undefined sp only with type 0 (terminator) or 0 + end (bottom of stack), a defined sp only
 * with types 0-2 and no end bit; 6.4+ writes an undefined sp exactly for its UNDEFINED and
 * END_OF_STACK types and a defined one only with types 2-4. The one pattern both use for real
 * code is a defined sp with type bits 2: REGS_PARTIAL in 6.1 (entry code only), CALL in 6.4+
 * (every function), so it decides only when nothing else does. No evidence reads as 6.1.
 */
export function detectLayout(elf: ElfFile): OrcLayout {
  if (elf.section('.orc_header')) return '6.4';
  const orc = elf.section('.orc_unwind');
  if (!orc) return '6.1';
  const view = viewOf(elf, orc);
  let old = 0;
  let neu = 0;
  let ambiguous = 0;
  for (let at = 0; at + ORC_ENTRY_SIZE <= orc.size; at += ORC_ENTRY_SIZE) {
    const bits = view.getUint16(at + 4, true);
    const t = (bits >> 8) & 0xf;
    if ((bits & 0xf) === 0) {
      if (t === 4) old++;
      else if (t === 1) neu++;
    } else if (t === 0 || t === 1) old++;
    else if (t === 2) ambiguous++;
    else neu++;
  }
  if (old || neu) return neu > old ? '6.4' : '6.1';
  return ambiguous ? '6.4' : '6.1';
}

function orcSections(elf: ElfFile): { ip: ElfSection; orc: ElfSection } | null {
  const ip = elf.section('.orc_unwind_ip');
  const orc = elf.section('.orc_unwind');
  if (!ip && !orc) return null;
  if (!ip || !orc) throw new OrcTableError(elf.fileName, `has ${ip ? '.orc_unwind_ip' : '.orc_unwind'} without its partner section`);
  viewOf(elf, ip);
  viewOf(elf, orc);
  if (ip.size % ORC_IP_SIZE || orc.size % ORC_ENTRY_SIZE || ip.size / ORC_IP_SIZE !== orc.size / ORC_ENTRY_SIZE)
    throw new OrcTableError(
      elf.fileName,
      `.orc_unwind_ip (${ip.size} bytes) and .orc_unwind (${orc.size} bytes) do not describe the same number of entries`,
    );
  return { ip, orc };
}

/** Decodes entry i of .orc_unwind. */
function entryAt(view: DataView, i: number, layout: OrcLayout): OrcEntry {
  const at = i * ORC_ENTRY_SIZE;
  return {
    spOffset: view.getInt16(at, true),
    bpOffset: view.getInt16(at + 2, true),
    ...decodeBits(view.getUint16(at + 4, true), layout),
  };
}

/**
 * The bytes of an ORC section, all sh_size of them. A NOBITS or NULL section has none in the
 * file whatever its sh_size says (the ELF reader checks only sections with file bytes against
 * the file), so every read of a table goes through here and is refused before it is made.
 */
function viewOf(elf: ElfFile, section: ElfSection): DataView {
  const where = `section [${section.index}] ${section.name}`;
  if (section.type === SHT_NOBITS || section.type === SHT_NULL)
    throw new OrcTableError(
      elf.fileName,
      `sh_type ${section.type === SHT_NOBITS ? 'SHT_NOBITS' : 'SHT_NULL'} has no file bytes, but an ORC table must (sh_size 0x${section.size.toString(16)})`,
      where,
    );
  const d = section.data();
  if (d.byteLength !== section.size)
    throw new OrcTableError(
      elf.fileName,
      `only 0x${d.byteLength.toString(16)} of its sh_size 0x${section.size.toString(16)} bytes are in the file`,
      where,
    );
  return new DataView(d.buffer, d.byteOffset, d.byteLength);
}

/** Whether a file has ORC sections at all. */
export function hasOrc(elf: ElfFile): boolean {
  return orcSections(elf) !== null;
}

/**
 * Entries of a linked image in file order. The address of entry i is the address of its
 * .orc_unwind_ip slot plus the slot's value.
 */
export function readImageEntries(elf: ElfFile, layout = detectLayout(elf)): RawOrcEntry[] {
  const s = orcSections(elf);
  if (!s) return [];
  const ipView = viewOf(elf, s.ip);
  const orcView = viewOf(elf, s.orc);
  const out: RawOrcEntry[] = [];
  for (let i = 0; i < s.ip.size / ORC_IP_SIZE; i++) {
    const address = BigInt.asUintN(64, s.ip.addr + BigInt(i * ORC_IP_SIZE + ipView.getInt32(i * ORC_IP_SIZE, true)));
    out.push({ address, ...entryAt(orcView, i, layout) });
  }
  return out;
}

/** An entry of a relocatable object: its relocation says which section and offset it covers. */
export interface ObjectOrcEntry extends OrcEntry {
  /** The section the entry's relocation points into (undefined: an undefined or absolute symbol). */
  section?: ElfSection;
  /** Offset in that section (symbol value + addend). */
  offset: bigint;
  /** What objtool prints before the '+': the section's name for a section symbol, else the symbol's. */
  name: string;
  addend: bigint;
}

/** Entries of a relocatable object in file order, each tied to its relocation. */
export function readObjectEntries(elf: ElfFile, layout = detectLayout(elf)): ObjectOrcEntry[] {
  const s = orcSections(elf);
  if (!s) return [];
  const rela = elf.relocations().find((r) => r.target === s.ip);
  const n = s.ip.size / ORC_IP_SIZE;
  if (!rela || rela.entries.length !== n)
    throw new OrcTableError(elf.fileName, `.orc_unwind_ip has ${n} entries but ${rela?.entries.length ?? 0} relocations`);
  const orcView = viewOf(elf, s.orc);
  const out: ObjectOrcEntry[] = [];
  // objtool writes the i-th relocation for the i-th slot; so does every reader (objtool's dump too)
  rela.entries.forEach((r, i) => {
    const sym = r.symbol;
    const name = sym.type === STT_SECTION ? (sym.section?.name ?? '') : sym.name;
    out.push({ section: sym.section, offset: sym.value + r.addend, name, addend: r.addend, ...entryAt(orcView, i, layout) });
  });
  return out;
}

/** Where a relocatable object's sections were placed (undefined: not loaded, entries dropped). */
export type SectionPlacement = (section: ElfSection) => bigint | undefined;

export interface OrcTableOptions {
  /** Name for messages and the symbolizer ('vmlinux' or a module name). */
  name?: string;
  layout?: OrcLayout;
  /** The text range lookups accept; default: the executable sections the entries point into. */
  start?: bigint;
  end?: bigint;
}

export class OrcTable {
  readonly name: string;
  readonly layout: OrcLayout;
  /** The covered text is [base, base + size). */
  readonly base: bigint;
  readonly size: number;
  readonly length: number;
  /** Sorted entries, address relative to base. */
  readonly ip: Int32Array;
  readonly spOffset: Int16Array;
  readonly bpOffset: Int16Array;
  readonly spReg: Uint8Array;
  readonly bpReg: Uint8Array;
  readonly kind: Uint8Array;
  /** Block index: the answer for an address in block b lies in [blocks[b], blocks[b + 1]]. */
  readonly blocks: Int32Array;
  /** log2 of a block's size: LOOKUP_BLOCK_ORDER, unless the text is vast for its entries. */
  readonly blockOrder: number;

  private constructor(
    file: string,
    entries: Array<{ address: bigint } & OrcEntry>,
    layout: OrcLayout,
    name: string,
    base: bigint,
    end: bigint,
  ) {
    this.name = name;
    this.layout = layout;
    this.base = base;
    // offsets are kept in an Int32Array, so the text must fit 2 GiB; a range this bad comes from
    // a damaged file (its _stext/_etext, its section addresses), hence an error about the file
    if (end < base || end - base > 0x7fffffffn)
      throw new OrcTableError(
        file,
        `text range 0x${base.toString(16)}-0x${end.toString(16)} of its entries ${end < base ? 'ends before it starts' : 'is larger than 2 GiB'}`,
        '.orc_unwind_ip',
      );
    this.size = Number(end - base);
    // keep the entries that can matter to a lookup in [base, end); one below base is never chosen
    const rel = entries.map((e, order) => ({ e, order, off: e.address - base })).filter((x) => x.off >= 0n && x.off <= BigInt(this.size));
    rel.sort((a, b) => {
      if (a.off !== b.off) return a.off < b.off ? -1 : 1;
      const ta = isTerminator(a.e, layout);
      const tb = isTerminator(b.e, layout);
      if (ta !== tb) return ta ? -1 : 1;
      return a.order - b.order;
    });
    const n = rel.length;
    this.length = n;
    this.ip = new Int32Array(n);
    this.spOffset = new Int16Array(n);
    this.bpOffset = new Int16Array(n);
    this.spReg = new Uint8Array(n);
    this.bpReg = new Uint8Array(n);
    this.kind = new Uint8Array(n);
    rel.forEach(({ e, off }, i) => {
      this.ip[i] = Number(off);
      this.spOffset[i] = e.spOffset;
      this.bpOffset[i] = e.bpOffset;
      this.spReg[i] = e.spReg;
      this.bpReg[i] = e.bpReg;
      this.kind[i] = e.kind;
    });
    // The kernel's 256-byte blocks, unless the text is vast for the entries it has (a damaged
    // _etext or section address can make 2 GiB of "text" for a file of a few KiB): then blocks
    // grow until there are at most a few per entry, so the index stays in proportion to the
    // file instead of costing 32 MiB whatever the input.
    let order = LOOKUP_BLOCK_ORDER;
    while (this.size >>> order > 4 * n + 1024) order++;
    this.blockOrder = order;
    const nBlocks = (this.size >>> order) + 2;
    this.blocks = new Int32Array(nBlocks);
    let j = 0;
    for (let b = 0; b < nBlocks; b++) {
      const start = b * 2 ** order;
      while (j + 1 < n && this.ip[j + 1] <= start) j++;
      this.blocks[b] = j;
    }
  }

  /** The table of a linked image (ET_EXEC); lookups cover [_stext, _etext) when the image has them. */
  static fromImage(elf: ElfFile, opts: OrcTableOptions = {}): OrcTable {
    if (elf.type !== ET_EXEC) throw new OrcTableError(elf.fileName, 'not a linked image: use OrcTable.fromObject');
    const layout = opts.layout ?? detectLayout(elf);
    const entries = readImageEntries(elf, layout);
    let start = opts.start;
    let end = opts.end;
    if (start === undefined || end === undefined) {
      const stext = elf.symbolsNamed('_stext')[0];
      const etext = elf.symbolsNamed('_etext')[0];
      if (stext && etext) {
        start ??= stext.value;
        end ??= etext.value;
      } else {
        const range = execRange(
          elf.sections.filter((s) => entries.some((e) => e.address >= s.addr && e.address < s.addr + BigInt(s.size))),
        );
        start ??= range[0];
        end ??= range[1];
      }
    }
    return new OrcTable(elf.fileName, entries, layout, opts.name ?? 'vmlinux', start, end);
  }

  /**
   * The table of a relocatable object (ET_REL) whose sections were placed by `place`: each entry's
   * address is its section's address plus the offset its relocation names. Lookups cover the
   * placed executable sections that carry entries.
   */
  static fromObject(elf: ElfFile, place: SectionPlacement, opts: OrcTableOptions = {}): OrcTable {
    if (elf.type !== ET_REL) throw new OrcTableError(elf.fileName, 'not a relocatable object: use OrcTable.fromImage');
    const layout = opts.layout ?? detectLayout(elf);
    const placed: Array<{ address: bigint } & OrcEntry> = [];
    const ranges: Array<[bigint, bigint]> = [];
    const seen = new Set<ElfSection>();
    for (const e of readObjectEntries(elf, layout)) {
      const at = e.section ? place(e.section) : undefined;
      if (at === undefined || !e.section) continue;
      placed.push({ ...e, address: at + e.offset });
      if (!seen.has(e.section) && (e.section.flags & SHF_EXECINSTR) !== 0n) {
        seen.add(e.section);
        ranges.push([at, at + BigInt(e.section.size)]);
      }
    }
    if (!placed.length && (opts.start === undefined || opts.end === undefined))
      throw new OrcTableError(elf.fileName, 'no ORC entry points into a placed section');
    const lo = ranges.reduce((m, r) => (r[0] < m ? r[0] : m), ranges[0]?.[0] ?? 0n);
    const hi = ranges.reduce((m, r) => (r[1] > m ? r[1] : m), ranges[0]?.[1] ?? 0n);
    return new OrcTable(elf.fileName, placed, layout, opts.name ?? elf.fileName, opts.start ?? lo, opts.end ?? hi);
  }

  /** Reads a file and builds its table (an image, or an object placed by `place`). */
  static read(path: string, place?: SectionPlacement, opts: OrcTableOptions = {}): OrcTable {
    const elf = ElfFile.read(path);
    if (elf.type === ET_REL) {
      if (!place) throw new OrcTableError(path, 'a relocatable object needs the addresses its sections were placed at');
      return OrcTable.fromObject(elf, place, opts);
    }
    return OrcTable.fromImage(elf, opts);
  }

  /** Whether an address (relative to base) lies in the covered text. */
  covers(off: number): boolean {
    return off >= 0 && off < this.size;
  }

  /**
   * Index of the entry covering `off` (relative to base): the last entry at or below it, found
   * through the block index; -1 when none (below the first entry, or outside the text).
   */
  find(off: number): number {
    if (!(off >= 0 && off < this.size)) return -1;
    const ip = this.ip;
    const b = off >>> this.blockOrder;
    let lo = this.blocks[b];
    let hi = this.blocks[b + 1];
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (ip[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo < this.length && ip[lo] <= off ? lo : -1;
  }

  /** The same answer as find() by a binary search over the whole table (the reference, and the slow path to compare with). */
  findBinary(off: number): number {
    if (!(off >= 0 && off < this.size)) return -1;
    const ip = this.ip;
    let lo = 0;
    let hi = this.length - 1;
    if (hi < 0 || ip[0] > off) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (ip[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The entry covering an absolute address, or undefined. */
  lookup(address: bigint): (OrcEntry & { address: bigint; index: number }) | undefined {
    const off = address - this.base;
    if (off < 0n || off >= BigInt(this.size)) return undefined;
    const i = this.find(Number(off));
    return i < 0 ? undefined : { ...this.entry(i), index: i };
  }

  /** Sorted entry i, normalised (type/flag are not kept: kind says what they meant). */
  entry(i: number): OrcEntry & { address: bigint } {
    return {
      address: this.base + BigInt(this.ip[i]),
      spOffset: this.spOffset[i],
      bpOffset: this.bpOffset[i],
      spReg: this.spReg[i],
      bpReg: this.bpReg[i],
      type: -1,
      flag: -1,
      kind: this.kind[i] as OrcKind,
    };
  }
}

function execRange(sections: ElfSection[]): [bigint, bigint] {
  const exec = sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0n);
  if (!exec.length) return [0n, 0n];
  let lo = exec[0].addr;
  let hi = exec[0].addr + BigInt(exec[0].size);
  for (const s of exec) {
    if (s.addr < lo) lo = s.addr;
    if (s.addr + BigInt(s.size) > hi) hi = s.addr + BigInt(s.size);
  }
  return [lo, hi];
}
