// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fentry sites ftrace may turn on: every address gcc recorded in __mcount_loc (-mrecord-mcount),
 * each the 5-byte NOP at the start of a kernel C function. The image's table is read from the
 * linked file; a module's comes either from its placed and relocated __mcount_loc bytes, or
 * from the section's relocations and the addresses the loader gave the sections it points into.
 * FtraceSites is the kernel's record table in miniature: site by address, site by function,
 * and ftraceLocation().
 */
import { type ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol, R_X86_64_64, STT_FUNC } from '../elf/index.ts';
import type { KernelImage } from '../kernel/index.ts';
import { FtraceError } from './errors.ts';

/** Length of a fentry site: the NOP, and the call that replaces it. */
export const MCOUNT_INSN_SIZE = 5;
/** The image's sites belong to this owner; a module's to the module's name. */
export const VMLINUX = 'vmlinux';

export interface FtraceSite {
  /** Address of the 5-byte NOP. */
  readonly ip: bigint;
  /** The function the site belongs to. */
  readonly func: string;
  readonly funcAddr: bigint;
  readonly funcSize: number;
  /** 'vmlinux' or the module's name. */
  readonly owner: string;
}

/** A function symbol, placed (its final address). */
export interface FunctionSymbol {
  name: string;
  address: bigint;
  size: number;
}

/** "func+0xoff/0xsize", as the kernel prints a code address. */
export function describeSite(site: FtraceSite): string {
  return `${site.func}+0x${(site.ip - site.funcAddr).toString(16)}/0x${site.funcSize.toString(16)}`;
}

/**
 * Sites from a relocated __mcount_loc table: 8-byte little-endian addresses. Each must fall
 * inside a function that functionAt() knows; a table of the wrong size or an address outside
 * every function is an FtraceError naming the entry.
 */
export function mcountTableSites(
  owner: string,
  table: Uint8Array,
  functionAt: (address: bigint) => FunctionSymbol | undefined,
): FtraceSite[] {
  if (table.length % 8 !== 0) throw new FtraceError('EINVAL', `${owner}: __mcount_loc is ${table.length} bytes, not a multiple of 8`);
  const view = new DataView(table.buffer, table.byteOffset, table.length);
  const ips: bigint[] = [];
  for (let at = 0; at < table.length; at += 8) ips.push(view.getBigUint64(at, true));
  return ips.map((ip, i) => siteAt(owner, ip, functionAt, `__mcount_loc entry ${i}`));
}

function siteAt(owner: string, ip: bigint, functionAt: (address: bigint) => FunctionSymbol | undefined, what: string): FtraceSite {
  const fn = functionAt(ip);
  if (!fn || ip < fn.address || ip + BigInt(MCOUNT_INSN_SIZE) > fn.address + BigInt(fn.size))
    throw new FtraceError('EINVAL', `${owner}: ${what} 0x${ip.toString(16)} is not inside a function`);
  return { ip, func: fn.name, funcAddr: fn.address, funcSize: fn.size, owner };
}

const imageSites = new WeakMap<KernelImage, readonly FtraceSite[]>();

/** The image's sites, from the linked __mcount_loc (computed once per image). */
export function imageFtraceSites(image: KernelImage): readonly FtraceSite[] {
  let sites = imageSites.get(image);
  if (!sites) {
    const sec = image.elf.section('__mcount_loc');
    if (!sec) throw new FtraceError('EINVAL', `${image.path}: no __mcount_loc section (built without -mrecord-mcount?)`);
    const start = image.symbol('__start_mcount_loc');
    const stop = image.symbol('__stop_mcount_loc');
    if (start !== sec.addr || stop - start !== BigInt(sec.size))
      throw new FtraceError('EINVAL', `${image.path}: __start/__stop_mcount_loc do not bound the __mcount_loc section`);
    sites = mcountTableSites(VMLINUX, sec.data(), (a) => functionSymbol(image.symbolAt(a)));
    imageSites.set(image, sites);
  }
  return sites;
}

function functionSymbol(s: ElfSymbol | undefined, base = 0n): FunctionSymbol | undefined {
  return s && s.type === STT_FUNC ? { name: s.name, address: base + s.value, size: s.size } : undefined;
}

/**
 * Sites of a relocatable object (a module) from __mcount_loc's relocations, for a loader that
 * placed the object's sections at `placement(section)` without relocating __mcount_loc itself.
 * Every entry is one R_X86_64_64 against a placed text section (or a function in it).
 */
export function moduleFtraceSites(owner: string, elf: ElfFile, placement: (section: ElfSection) => bigint | undefined): FtraceSite[] {
  const sec = elf.section('__mcount_loc');
  if (!sec) return [];
  const rela = elf.relocations().find((r) => r.target === sec);
  return mcountRelocationSites(owner, sec.size, rela?.entries ?? [], placement, (off, s) => elf.symbolAt(off, s));
}

/**
 * The same from the raw pieces: __mcount_loc's size, its relocations, where the sections went,
 * and the symbol lookup of the object (offset within a section -> function symbol).
 */
export function mcountRelocationSites(
  owner: string,
  size: number,
  relocations: readonly ElfRelocation[],
  placement: (section: ElfSection) => bigint | undefined,
  symbolAt: (offset: bigint, section: ElfSection) => ElfSymbol | undefined,
): FtraceSite[] {
  if (size % 8 !== 0) throw new FtraceError('EINVAL', `${owner}: __mcount_loc is ${size} bytes, not a multiple of 8`);
  const bySlot = new Map<number, ElfRelocation>();
  for (const r of relocations) {
    if (r.type !== R_X86_64_64 || r.offset % 8n !== 0n || r.offset >= BigInt(size))
      throw new FtraceError('EINVAL', `${owner}: unexpected __mcount_loc relocation (type ${r.type} at 0x${r.offset.toString(16)})`);
    bySlot.set(Number(r.offset) / 8, r);
  }
  const sites: FtraceSite[] = [];
  for (let i = 0; i < size / 8; i++) {
    const r = bySlot.get(i);
    if (!r) throw new FtraceError('EINVAL', `${owner}: __mcount_loc entry ${i} has no relocation`);
    const section = r.symbol.section;
    const base = section && placement(section);
    if (!section || base === undefined)
      throw new FtraceError(
        'EINVAL',
        `${owner}: __mcount_loc entry ${i} refers to '${r.symbol.name || section?.name}', which is not placed`,
      );
    const offset = r.symbol.value + r.addend; // offset of the site within its section
    sites.push(
      siteAt(
        owner,
        base + offset,
        () => functionSymbol(symbolAt(offset, section), base),
        `__mcount_loc entry ${i} (${section.name}+0x${offset.toString(16)})`,
      ),
    );
  }
  return sites;
}

/** The sites ftrace knows: the image's, plus those of loaded modules. */
export class FtraceSites {
  private readonly byIp = new Map<bigint, FtraceSite>();
  private readonly byFunc = new Map<bigint, FtraceSite>();
  private readonly owners = new Map<string, FtraceSite[]>();

  constructor(image: readonly FtraceSite[] = []) {
    if (image.length) this.add(VMLINUX, image);
  }

  /** Adds an owner's sites (a module being loaded); a site already known is an FtraceError. */
  add(owner: string, sites: readonly FtraceSite[]): void {
    if (this.owners.has(owner)) throw new FtraceError('EBUSY', `sites of '${owner}' are already known`);
    for (const s of sites) {
      const old = this.byIp.get(s.ip);
      if (old)
        throw new FtraceError('EINVAL', `${owner}: site 0x${s.ip.toString(16)} (${s.func}) already belongs to ${old.owner} (${old.func})`);
    }
    for (const s of sites) {
      this.byIp.set(s.ip, s);
      if (!this.byFunc.has(s.funcAddr)) this.byFunc.set(s.funcAddr, s);
    }
    this.owners.set(owner, [...sites]);
  }

  /** Forgets an owner's sites (a module going away); returns them. */
  remove(owner: string): FtraceSite[] {
    const sites = this.owners.get(owner) ?? [];
    for (const s of sites) {
      this.byIp.delete(s.ip);
      if (this.byFunc.get(s.funcAddr) === s) this.byFunc.delete(s.funcAddr);
    }
    this.owners.delete(owner);
    return sites;
  }

  ownerSites(owner: string): readonly FtraceSite[] {
    return this.owners.get(owner) ?? [];
  }

  /** The site at exactly ip. */
  at(ip: bigint): FtraceSite | undefined {
    return this.byIp.get(ip);
  }

  /** The site of the function that starts at funcAddr. */
  ofFunction(funcAddr: bigint): FtraceSite | undefined {
    return this.byFunc.get(funcAddr);
  }

  /**
   * The kernel's ftrace_location(): addr itself if it is a site, else the site of the function
   * starting at addr; undefined for anything else (an address inside a function, an assembly
   * symbol, a notrace function).
   */
  location(addr: bigint): bigint | undefined {
    return (this.byIp.get(addr) ?? this.byFunc.get(addr))?.ip;
  }

  get size(): number {
    return this.byIp.size;
  }

  [Symbol.iterator](): IterableIterator<FtraceSite> {
    return this.byIp.values();
  }
}
