// SPDX-License-Identifier: GPL-2.0-or-later
// The module loader's host half, before any guest byte changes: where each allocated section of
// a relocatable object goes (the kernel's layout_sections: text together, then read-only data,
// then data, then bss, each region page-aligned, each section at its sh_addralign), what every
// undefined symbol binds to, and the final bytes of every section with all relocations applied.
// layoutModule() returns one host buffer holding the whole module at the addresses it was given;
// writing it into guest memory, and running anything, is src/kernel/modules.ts's business.
//
// The module conventions it reads (firmware/include/lab/module.h): .modinfo "tag=value" strings
// (name=, license=, ...), exported names in .lab.exports, the init/exit function pointers
// __lab_module_init / __lab_module_exit (or kernel-style init_module / cleanup_module symbols).

import { basename } from 'node:path';
import {
  ET_REL,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHN_ABS,
  SHN_COMMON,
  SHF_RELA_LIVEPATCH,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_RELA,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_SECTION,
} from './constants.ts';
import { ElfFormatError } from './errors.ts';
import { hex } from './format.ts';
import { ModuleFormatError, UnresolvedSymbolError, type SymbolCandidateInfo } from './module-errors.ts';
import { applyRelocation, isSupportedRelocation, type AppliedRelocation } from './module-relocs.ts';
import type { ElfFile } from './reader.ts';
import type { ElfRelocation, ElfRelocationSection } from './relocations.ts';
import type { ElfSection } from './sections.ts';
import type { ElfSymbol } from './symbols.ts';

export * from './module-errors.ts';
export { applyRelocation, isSupportedRelocation, moduleRelocationTypeName, type AppliedRelocation } from './module-relocs.ts';

/** Regions in the order they are laid out; each starts on a page. */
export const MODULE_REGIONS = ['text', 'rodata', 'data', 'bss'] as const;
export type ModuleRegionKind = (typeof MODULE_REGIONS)[number];
export const MODULE_PAGE_SIZE = 4096;
/** MODULE_NAME_LEN - 1 in the kernel. */
export const MODULE_NAME_MAX = 55;

/** Fill of the gaps between text sections: int3, one byte, so a linear sweep stays in step. */
const TEXT_FILL = 0xcc;

/**
 * Allocated sections the loader reads but does not place: module metadata (the kernel drops
 * SHF_ALLOC from .modinfo and __versions too), and anything a link would discard.
 */
function isMetadata(section: ElfSection): boolean {
  return (
    // klp-convert's .klp.rela.* are SHF_ALLOC, as the kernel wants them kept after the load:
    // the host keeps the whole object, so they need no copy in guest memory
    section.type === SHT_RELA ||
    section.name === '.modinfo' ||
    section.name === '__versions' ||
    section.name === '.lab.exports' ||
    section.name.startsWith('.discard') ||
    section.name.startsWith('.exit.discard')
  );
}

function regionOf(section: ElfSection): ModuleRegionKind {
  if (section.flags & SHF_EXECINSTR) return 'text';
  if (!(section.flags & SHF_WRITE)) return 'rodata';
  return section.type === SHT_NOBITS ? 'bss' : 'data';
}

export interface PlannedSection {
  readonly section: ElfSection;
  readonly region: ModuleRegionKind;
  /** Offset from the module's base. */
  readonly offset: number;
}

export interface PlannedRegion {
  readonly kind: ModuleRegionKind;
  /** Offset from the module's base (a page multiple) and size in bytes (0: the region is empty). */
  readonly offset: number;
  readonly size: number;
}

/** Where everything goes, relative to a base not chosen yet. */
export interface ModulePlan {
  readonly file: string;
  /** Bytes of the whole module (a page multiple) and the base alignment it needs. */
  readonly size: number;
  readonly align: number;
  readonly sections: readonly PlannedSection[];
  readonly regions: Readonly<Record<ModuleRegionKind, PlannedRegion>>;
  /** Allocated sections read as metadata, not placed (.modinfo, .lab.exports, .discard.*). */
  readonly metadata: readonly ElfSection[];
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Runs `fn`, turning the ELF reader's format errors into ModuleFormatErrors (a damaged module). */
function asModuleError<T>(elf: { fileName: string }, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ElfFormatError) throw new ModuleFormatError(elf.fileName, e.message.replace(`${e.file}: `, ''), {}, { cause: e });
    throw e;
  }
}

/**
 * Decides the place of every allocated section of a relocatable object, relative to the
 * module's base: text, rodata, data, bss, each region page-aligned, sections in section-header
 * order within a region, each at its sh_addralign.
 */
export function planModule(elf: ElfFile): ModulePlan {
  return asModuleError(elf, () => {
    const file = elf.fileName;
    if (elf.type !== ET_REL) throw new ModuleFormatError(file, `not a relocatable object (e_type ${elf.type}, want ET_REL)`);
    const byRegion = new Map<ModuleRegionKind, ElfSection[]>(MODULE_REGIONS.map((k) => [k, []]));
    const metadata: ElfSection[] = [];
    let align = MODULE_PAGE_SIZE;
    for (const s of elf.sections) {
      if (!(s.flags & SHF_ALLOC)) continue;
      if (isMetadata(s)) {
        metadata.push(s);
        continue;
      }
      const a = s.addralign || 1;
      if (!Number.isSafeInteger(a) || a & (a - 1))
        throw new ModuleFormatError(file, `sh_addralign ${a} is not a power of two`, { section: s });
      if (a > align) align = a;
      byRegion.get(regionOf(s))!.push(s);
    }
    const sections: PlannedSection[] = [];
    const regions = {} as Record<ModuleRegionKind, PlannedRegion>;
    let at = 0;
    for (const kind of MODULE_REGIONS) {
      const start = alignUp(at, MODULE_PAGE_SIZE);
      at = start;
      for (const s of byRegion.get(kind)!) {
        at = alignUp(at, s.addralign || 1);
        sections.push({ section: s, region: kind, offset: at });
        at += s.size;
      }
      regions[kind] = { kind, offset: start, size: at - start };
    }
    return { file, size: Math.max(alignUp(at, MODULE_PAGE_SIZE), MODULE_PAGE_SIZE), align, sections, regions, metadata };
  });
}

/** A definition an undefined symbol may bind to: one of the image's symbols or a module's export. */
export type SymbolCandidate = SymbolCandidateInfo;

/**
 * Everything an undefined symbol could bind to: the image's symbols of that name (static ones
 * included) and live modules' exports. layoutModule binds to the only candidate, or fails.
 */
export type SymbolResolver = (name: string) => readonly SymbolCandidate[];

/** A resolver over a linked image's symbol table (FUNC, OBJECT and NOTYPE, local ones included). */
export function imageSymbolResolver(image: ElfFile, owner = 'vmlinux'): SymbolResolver {
  return (name) =>
    image
      .symbolsNamed(name)
      .filter((s) => s.shndx !== SHN_UNDEF)
      .map((s) => ({ name, address: s.value, owner, local: s.bind === STB_LOCAL }));
}

export interface LayoutOptions {
  /** The module's base address, aligned to plan.align. */
  readonly base: bigint;
  readonly resolve: SymbolResolver;
  /** A plan from planModule(elf) (made here when absent). */
  readonly plan?: ModulePlan;
}

export interface PlacedSection extends PlannedSection {
  readonly address: bigint;
  /** The section's final bytes: a view into ModuleLayout.image (zeros for NOBITS). */
  readonly bytes: Uint8Array;
}

export interface PlacedRegion extends PlannedRegion {
  readonly address: bigint;
}

/** An undefined symbol of the module and what it was bound to. */
export interface ResolvedImport {
  readonly name: string;
  /** undefined: a weak reference nothing defines (it binds to 0). */
  readonly target?: SymbolCandidate;
  readonly address: bigint;
}

/** A module ready to be written: final addresses and bytes of everything, and its metadata. */
export interface ModuleLayout {
  readonly file: string;
  readonly elf: ElfFile;
  readonly base: bigint;
  readonly size: number;
  readonly align: number;
  /** The whole module as it must appear in guest memory from `base` (bss zeroed, text gaps int3). */
  readonly image: Uint8Array;
  readonly regions: Readonly<Record<ModuleRegionKind, PlacedRegion>>;
  readonly sections: readonly PlacedSection[];
  readonly relocations: readonly AppliedRelocation[];
  readonly imports: ReadonlyMap<string, ResolvedImport>;
  /** Relocation sections left for the livepatch core (SHF_RELA_LIVEPATCH / .klp.rela.*). */
  readonly deferredRelocations: readonly ElfRelocationSection[];
  /** .modinfo, tag -> values in file order. */
  readonly modinfo: ReadonlyMap<string, readonly string[]>;
  /** modinfo's name=, else the file name without .o/.ko. */
  readonly name: string;
  /** Exported symbol name -> address (from .lab.exports). */
  readonly exports: ReadonlyMap<string, bigint>;
  /** Addresses of the init / exit functions, if the module has them. */
  readonly init?: bigint;
  readonly exit?: bigint;
  /** The relocated __mcount_loc: the address of every fentry site of the module, in table order. */
  readonly mcountLoc: readonly bigint[];
  /** Final address of a section of elf (undefined: not placed). */
  placement(section: ElfSection): bigint | undefined;
  /** Final address of a symbol defined in the module (undefined: undefined or not placed). */
  symbolAddress(symbol: ElfSymbol): bigint | undefined;
}

/** The NUL-separated strings of a section. */
function strings(section: ElfSection): string[] {
  return Buffer.from(section.data())
    .toString('latin1')
    .split('\0')
    .filter((s) => s.length > 0);
}

/** .modinfo of an object as [tag, value] entries, in file order (modinfo(8) prints them so). */
export function modinfoEntries(elf: ElfFile): [string, string][] {
  return asModuleError(elf, () => {
    const out: [string, string][] = [];
    for (const s of elf.sectionsByName('.modinfo'))
      for (const entry of strings(s)) {
        const eq = entry.indexOf('=');
        if (eq <= 0) throw new ModuleFormatError(elf.fileName, `.modinfo entry '${entry}' is not tag=value`, { section: s });
        out.push([entry.slice(0, eq), entry.slice(eq + 1)]);
      }
    return out;
  });
}

/** .modinfo of an object, tag -> values in file order. */
export function readModinfo(elf: ElfFile): Map<string, string[]> {
  const modinfo = new Map<string, string[]>();
  for (const [tag, value] of modinfoEntries(elf)) modinfo.set(tag, [...(modinfo.get(tag) ?? []), value]);
  return modinfo;
}

/** The module's name: .modinfo's name=, else the file name without .o / .ko. */
export function moduleName(elf: ElfFile): string {
  return moduleNameOf(elf.fileName, readModinfo(elf));
}

function moduleNameOf(file: string, modinfo: ReadonlyMap<string, readonly string[]>): string {
  const names = modinfo.get('name') ?? [];
  if (names.length > 1) throw new ModuleFormatError(file, `.modinfo has ${names.length} name= entries`);
  const name = names[0] ?? basename(file).replace(/\.k?o$/, '');
  if (!/^[A-Za-z0-9_-]+$/.test(name) || name.length > MODULE_NAME_MAX)
    throw new ModuleFormatError(file, `module name '${name}' must be 1-${MODULE_NAME_MAX} letters, digits, '_' or '-'`);
  return name;
}

/**
 * Lays the object out at opts.base and relocates it, entirely in host memory. Throws
 * ModuleFormatError, UnresolvedSymbolError, UnsupportedRelocationError or RelocationOverflowError
 * naming the file, section, offset and symbol; nothing outside the returned object changes.
 */
export function layoutModule(elf: ElfFile, opts: LayoutOptions): ModuleLayout {
  return asModuleError(elf, () => relocate(elf, opts.plan ?? planModule(elf), opts));
}

function relocate(elf: ElfFile, plan: ModulePlan, opts: LayoutOptions): ModuleLayout {
  const file = elf.fileName;
  const base = opts.base;
  if (base % BigInt(plan.align) !== 0n) throw new RangeError(`${file}: base ${hex(base)} is not aligned to ${hex(plan.align)}`);

  // 1. Bytes and addresses.
  const image = new Uint8Array(plan.size);
  const text = plan.regions.text;
  image.fill(TEXT_FILL, text.offset, text.offset + text.size);
  const placed = new Map<ElfSection, PlacedSection>();
  const sections: PlacedSection[] = [];
  for (const p of plan.sections) {
    const bytes = image.subarray(p.offset, p.offset + p.section.size);
    if (p.section.inFile) bytes.set(p.section.data());
    else bytes.fill(0);
    const s: PlacedSection = { ...p, address: base + BigInt(p.offset), bytes };
    placed.set(p.section, s);
    sections.push(s);
  }
  const regions = {} as Record<ModuleRegionKind, PlacedRegion>;
  for (const kind of MODULE_REGIONS) regions[kind] = { ...plan.regions[kind], address: base + BigInt(plan.regions[kind].offset) };
  const placement = (section: ElfSection): bigint | undefined => placed.get(section)?.address;

  const symbolAddress = (sym: ElfSymbol): bigint | undefined => {
    if (sym.type === STT_SECTION) return sym.section && placement(sym.section);
    if (sym.shndx === SHN_ABS && !sym.section) return sym.value;
    if (!sym.section) return undefined;
    const at = placement(sym.section);
    return at === undefined ? undefined : at + sym.value;
  };

  // 2. Which relocation sections apply now.
  const toApply: ElfRelocationSection[] = [];
  const deferred: ElfRelocationSection[] = [];
  for (const rs of elf.relocations()) {
    if (rs.section.flags & SHF_RELA_LIVEPATCH || rs.section.name.startsWith('.klp.rela.')) deferred.push(rs);
    else if (placed.has(rs.target)) toApply.push(rs);
    // else: relocations of a section that is not loaded (.discard.*, debug info)
  }

  // 3. Bind every undefined symbol the relocations use, before changing anything.
  const imports = new Map<string, ResolvedImport>();
  const unknown: Array<{ name: string; where: { section: ElfSection; offset: bigint } }> = [];
  for (const rs of toApply) {
    for (const r of rs.entries) {
      const sym = r.symbol;
      if (r.type === 0 || sym.index === 0) continue;
      if (!isSupportedRelocation(r.type)) continue; // reported with its place in step 4
      if (sym.shndx === SHN_COMMON)
        throw new ModuleFormatError(file, `symbol '${sym.name}' is a common symbol (build with -fno-common)`, {
          section: rs.target,
          offset: r.offset,
        });
      if (sym.shndx !== SHN_UNDEF || imports.has(sym.name)) continue;
      const candidates = opts.resolve(sym.name);
      if (candidates.length > 1) throw new UnresolvedSymbolError(file, sym.name, { section: rs.target, offset: r.offset }, candidates);
      if (candidates.length === 1) imports.set(sym.name, { name: sym.name, target: candidates[0], address: candidates[0].address });
      else if (sym.bind === STB_WEAK) imports.set(sym.name, { name: sym.name, address: 0n });
      else if (!unknown.some((u) => u.name === sym.name)) unknown.push({ name: sym.name, where: { section: rs.target, offset: r.offset } });
    }
  }
  if (unknown.length)
    throw new UnresolvedSymbolError(
      file,
      unknown[0].name,
      unknown[0].where,
      [],
      unknown.slice(1).map((u) => u.name),
    );

  // 4. Apply.
  const applied: AppliedRelocation[] = [];
  for (const rs of toApply) {
    const target = placed.get(rs.target)!;
    if (target.section.type === SHT_NOBITS && rs.entries.some((r) => r.type !== 0))
      throw new ModuleFormatError(file, `${rs.section.name} relocates a section without file bytes`, { section: rs.target });
    const site = { file, bytes: target.bytes, section: { index: rs.target.index, name: rs.target.name }, address: target.address };
    for (const r of rs.entries) {
      const S = symbolValue(r, imports, symbolAddress, file, rs.target);
      const done = applyRelocation(site, { offset: r.offset, type: r.type, addend: r.addend, symbol: symbolName(r.symbol) }, S);
      if (done) applied.push(done);
    }
  }

  // 5. Metadata.
  const modinfo = readModinfo(elf);
  const exportNames: string[] = [];
  for (const s of plan.metadata) if (s.name === '.lab.exports') exportNames.push(...strings(s));
  const name = moduleNameOf(file, modinfo);
  const exports = new Map<string, bigint>();
  for (const e of exportNames) {
    if (exports.has(e)) throw new ModuleFormatError(file, `'${e}' is exported twice`);
    const defs = elf.symbols.filter((s) => s.name === e && s.shndx !== SHN_UNDEF && s.type !== STT_SECTION);
    const def = defs.find((s) => s.bind === STB_GLOBAL || s.bind === STB_WEAK);
    if (!def)
      throw new ModuleFormatError(
        file,
        defs.length
          ? `exported symbol '${e}' is static: export only global symbols`
          : `exported symbol '${e}' is not defined in the module`,
      );
    const at = symbolAddress(def);
    if (at === undefined)
      throw new ModuleFormatError(file, `exported symbol '${e}' is in a section that is not loaded`, { section: def.section });
    exports.set(e, at);
  }

  const codeIn = (what: string, address: bigint | undefined, where: ElfSymbol): bigint | undefined => {
    if (address === undefined) return undefined;
    if (address < regions.text.address || address >= regions.text.address + BigInt(regions.text.size))
      throw new ModuleFormatError(file, `${what} '${where.name}' points to ${hex(address)}, outside the module's text`, {
        section: where.section,
        offset: where.value,
      });
    return address;
  };
  const pointerOrSymbol = (pointer: string, func: string, what: string): bigint | undefined => {
    const p = elf.symbols.find((s) => s.name === pointer && s.shndx !== SHN_UNDEF);
    const f = elf.symbols.find((s) => s.name === func && s.shndx !== SHN_UNDEF && s.bind !== STB_LOCAL);
    if (p && f) throw new ModuleFormatError(file, `both ${pointer} and ${func} define the ${what} function`);
    if (f) return codeIn(what, symbolAddress(f), f);
    if (!p) return undefined;
    const s = p.section && placed.get(p.section);
    if (!s || p.size !== 8 || p.value + 8n > BigInt(s.bytes.length))
      throw new ModuleFormatError(file, `${pointer} is not an 8-byte pointer in a loaded section`, { section: p.section, offset: p.value });
    const v = new DataView(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength).getBigUint64(Number(p.value), true);
    return codeIn(what, v, p);
  };
  const init = pointerOrSymbol('__lab_module_init', 'init_module', 'init');
  const exit = pointerOrSymbol('__lab_module_exit', 'cleanup_module', 'exit');

  const mcountLoc: bigint[] = [];
  const mcount = sections.find((s) => s.section.name === '__mcount_loc');
  if (mcount) {
    if (mcount.bytes.length % 8) throw new ModuleFormatError(file, `__mcount_loc is ${mcount.bytes.length} bytes, not a multiple of 8`);
    const v = new DataView(mcount.bytes.buffer, mcount.bytes.byteOffset, mcount.bytes.byteLength);
    for (let i = 0; i < mcount.bytes.length; i += 8) mcountLoc.push(v.getBigUint64(i, true));
  }

  return {
    file,
    elf,
    base,
    size: plan.size,
    align: plan.align,
    image,
    regions,
    sections,
    relocations: applied,
    imports,
    deferredRelocations: deferred,
    modinfo,
    name,
    exports,
    init,
    exit,
    mcountLoc,
    placement,
    symbolAddress,
  };
}

function symbolName(sym: ElfSymbol): string {
  return sym.type === STT_SECTION ? (sym.section?.name ?? '') : sym.name;
}

/** S of a relocation: a module symbol's final address, or what its import bound to. */
function symbolValue(
  r: ElfRelocation,
  imports: ReadonlyMap<string, ResolvedImport>,
  symbolAddress: (s: ElfSymbol) => bigint | undefined,
  file: string,
  target: ElfSection,
): bigint {
  const sym = r.symbol;
  if (sym.index === 0 || r.type === 0) return 0n;
  if (sym.shndx === SHN_UNDEF) return imports.get(sym.name)?.address ?? 0n;
  const at = symbolAddress(sym);
  if (at === undefined)
    throw new ModuleFormatError(
      file,
      `relocation against '${symbolName(sym)}', defined in ${sym.section ? `section [${sym.section.index}] ${sym.section.name}, which is not loaded` : `special section ${hex(sym.shndx)}`}`,
      { section: target, offset: r.offset },
    );
  return at;
}
