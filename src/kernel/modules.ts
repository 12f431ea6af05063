// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loadable modules on a running lab kernel: the kernel's module list and load_module() /
 * delete_module() in miniature. A load lays the object out and relocates it in host memory
 * (src/elf/module.ts) and only then writes guest memory, registers the code (instruction map,
 * translated blocks, symbols, and the code hooks' tables such as ORC), tells the COMING notifiers, runs the module's init in task
 * context (khostd), and marks it LIVE. A failing init takes everything back: GOING notifiers,
 * nothing left registered, the memory released. An unload runs the exit function, tells the
 * GOING notifiers, and releases the memory.
 *
 * Notifiers are how the livepatch core patches modules that load after a patch ("applying patch
 * 'P' to loading module 'M'"). ftrace learns a module's fentry sites, and forgets them, through
 * hooks of its own that run whatever the notifiers say (ModuleFtrace). Notifiers run in host
 * context with every vCPU stopped, may run guest code themselves (kernel.host.run, or by
 * returning a host task), and refuse a load by returning a negative errno or throwing.
 *
 * Any failure before the init runs leaves guest memory byte for byte as it was. An init that
 * cannot finish (a guest oops in it, khostd not done in time) leaves the module COMING.
 */
import { basename } from 'node:path';
import { EV_MODULE } from './events.ts';
import { sysfsWriteEvent } from './sysfs.ts';
import {
  ElfFile,
  AmbiguousSymbolError,
  SymbolNotFoundError,
  type ElfSection,
  type ElfSymbol,
  SHN_UNDEF,
  STB_LOCAL,
  STT_FUNC,
  STT_OBJECT,
  ElfError,
  ElfFormatError,
  errnoName,
  isErrno,
  layoutModule,
  moduleName,
  ModuleError,
  ModuleFormatError,
  planModule,
  readModinfo,
  RelocationOverflowError,
  type ModuleLayout,
  type ModulePlan,
  type ModuleRegionKind,
  type PlacedRegion,
  type SymbolCandidate,
} from '../elf/index.ts';
import { SymbolTable, type Symbolizer } from './kallsyms.ts';
import { callGuest, type HostTask } from './hostcall.ts';
import { HostMemoryError } from './hostmem.ts';
import { applyParams, readParam, writeParam } from './modparams.ts';
import { findThisModule, thisModuleEntries, type ThisModule } from './this-module.ts';
import type { Kernel } from './kernel.ts';

export type ModuleState = 'COMING' | 'LIVE' | 'GOING';

/** What a notifier may return: nothing or 0 (fine), a negative errno (refuse), or a host task giving either. */
export type ModuleNotifierResult = void | number | HostTask<void | number>;
export type ModuleNotifier = (mod: LoadedModule) => ModuleNotifierResult;

export interface ModuleNotifierBlock {
  /** After the module is placed and registered, before its init runs. */
  coming?: ModuleNotifier;
  /** After its exit ran (or its init failed), before its memory is released. */
  going?: ModuleNotifier;
  /** Higher runs first, for COMING and GOING alike (the kernel's notifier priority); ties in registration order. */
  priority?: number;
}

/**
 * What load_module() and delete_module() call themselves rather than through the notifier
 * chain: ftrace_module_init() once the module is placed, before any COMING notifier, and
 * ftrace_release_mod() whenever a module that got that far goes away -- unloaded, refused by a
 * COMING notifier, or failed in its init -- after the GOING notifiers. A refusal unwinds only
 * the notifiers that ran before the refusing one; ftrace's records are released whatever
 * refused, or they would keep the module's addresses for the next module placed there.
 */
export interface ModuleFtrace {
  init(mod: LoadedModule): void;
  release(mod: LoadedModule): void;
}

/**
 * A subsystem that keeps its own tables over module code (the ORC unwinder does, in src/orc/,
 * which the loader does not know): it subscribes here instead of the loader pushing into it.
 * `prepare` reads its table from the laid-out object in the load's host-side half, so a
 * malformed section refuses the load (throw a ModuleError) before any guest byte changes;
 * `add` registers it when the module is committed, before ftrace and the COMING notifiers;
 * `remove` drops it when the module's memory is released (also after a failed commit, so it
 * must accept a module it never saw).
 */
export interface ModuleCodeHook<T = unknown> {
  prepare(layout: ModuleLayout): T;
  add(mod: LoadedModule, table: T): void;
  remove(mod: LoadedModule): void;
}

/** The registry refused: EEXIST, ENOENT, EBUSY, EWOULDBLOCK, ENOMEM, a duplicate export, a notifier's errno. */
export class ModuleLoadError extends ModuleError {}

/** The module's init returned a negative errno; the module was taken away again. */
export class ModuleInitError extends ModuleError {
  constructor(
    readonly module: string,
    readonly ret: number,
    initName: string,
  ) {
    super(module, errnoName(ret), `init function ${initName} returned ${ret}: module unloaded again`);
  }
}

/** A function or object of a module, placed. */
export interface ModuleSymbolInfo {
  readonly name: string;
  readonly address: bigint;
  readonly size: number;
  readonly module: string;
  readonly type: 'func' | 'object';
}

/** The guest's struct module of a loaded module: the module's own __this_module, or one the host keeps for a bare object. */
interface ModuleStruct {
  readonly address: bigint;
  /** Allocated by the host (a bare .o): released with the module. */
  readonly hostAllocated: boolean;
  setState(state: ModuleState): void;
}

/** One loaded module (struct module): where it is, what it exports, its state and its users. */
export class LoadedModule {
  private _state: ModuleState = 'COMING';
  /** The guest's struct module (klp_object->mod points at it); set once the module is committed. */
  guestStruct?: ModuleStruct;
  /** try_module_get() references (the livepatch core holds one on an enabled patch's module). */
  refcount = 0;
  /** Modules whose exports this one uses, and the modules using this one's. */
  readonly uses = new Set<LoadedModule>();
  readonly usedBy = new Set<LoadedModule>();
  /** Things the loader noticed but accepted (an init returning a positive value). */
  readonly warnings: string[] = [];

  constructor(
    readonly name: string,
    readonly layout: ModuleLayout,
    /** Its text symbols, for the symbolizer ("function+0xoff/0xsize [name]"). */
    readonly symbols: SymbolTable,
    /** init and exit as __this_module gives them; a bare object's come from its symbols. */
    private readonly entries?: { readonly init?: bigint; readonly exit?: bigint },
  ) {}

  /** MODULE_STATE_*, also in the guest's struct module. */
  get state(): ModuleState {
    return this._state;
  }
  set state(s: ModuleState) {
    this._state = s;
    this.guestStruct?.setState(s);
  }

  get file(): string {
    return this.layout.file;
  }
  get elf(): ElfFile {
    return this.layout.elf;
  }
  get base(): bigint {
    return this.layout.base;
  }
  get size(): number {
    return this.layout.size;
  }
  get regions(): Readonly<Record<ModuleRegionKind, PlacedRegion>> {
    return this.layout.regions;
  }
  get text(): PlacedRegion {
    return this.layout.regions.text;
  }
  get init(): bigint | undefined {
    return this.entries ? this.entries.init : this.layout.init;
  }
  get exit(): bigint | undefined {
    return this.entries ? this.entries.exit : this.layout.exit;
  }
  get exports(): ReadonlyMap<string, bigint> {
    return this.layout.exports;
  }
  get modinfo(): ReadonlyMap<string, readonly string[]> {
    return this.layout.modinfo;
  }
  /** Address of every fentry site (the relocated __mcount_loc), for ftrace. */
  get mcountLoc(): readonly bigint[] {
    return this.layout.mcountLoc;
  }
  /** The relocated __mcount_loc bytes (8-byte addresses), for ftrace's mcountTableSites(); empty if none. */
  get mcountTable(): Uint8Array {
    return this.layout.sections.find((s) => s.section.name === '__mcount_loc')?.bytes ?? new Uint8Array(0);
  }

  /** Final address of one of the object's sections (undefined: not placed). */
  placement(section: ElfSection): bigint | undefined {
    return this.layout.placement(section);
  }

  /** Final address of the first section called `name`. */
  sectionAddress(name: string): bigint | undefined {
    return this.layout.sections.find((s) => s.section.name === name)?.address;
  }

  /** Whether address lies in the module's memory (any region). */
  contains(address: bigint): boolean {
    return address >= this.base && address < this.base + BigInt(this.size);
  }

  /** Whether address lies in the module's text. */
  containsText(address: bigint): boolean {
    const t = this.text;
    return address >= t.address && address < t.address + BigInt(t.size);
  }

  /**
   * A symbol of the module, kallsyms style (local ones included): sympos 0/undefined needs a
   * unique name, N >= 1 picks the N-th. Throws the ELF reader's SymbolNotFoundError /
   * AmbiguousSymbolError, as the image's lookup does.
   */
  findSymbol(name: string, sympos?: number): bigint {
    const sym = this.elf.findSymbol(name, sympos || undefined);
    const at = this.layout.symbolAddress(sym);
    if (at === undefined) throw new SymbolNotFoundError(this.file, name, sympos || undefined);
    return at;
  }

  /** The FUNC (preferred) or OBJECT symbol containing address, placed. */
  symbolAt(address: bigint): ModuleSymbolInfo | undefined {
    if (!this.contains(address)) return undefined;
    for (const s of this.layout.sections) {
      if (address < s.address || address >= s.address + BigInt(Math.max(s.section.size, 1))) continue;
      const sym = this.elf.symbolAt(address - s.address, s.section);
      if (sym)
        return {
          name: sym.name,
          address: s.address + sym.value,
          size: sym.size,
          module: this.name,
          type: sym.type === STT_FUNC ? 'func' : 'object',
        };
    }
    return undefined;
  }

  /** The function containing address (what ftrace's site lookups call functionAt). */
  functionAt(address: bigint): ModuleSymbolInfo | undefined {
    const s = this.symbolAt(address);
    return s?.type === 'func' ? s : undefined;
  }

  /** "function+0xoff/0xsize [module]" of an address in this module's text, or hex. */
  symbolize(address: bigint): string {
    const r = this.symbols.resolve(address);
    return r ? `${r.name}+0x${r.offset.toString(16)}/0x${r.size.toString(16)} [${this.name}]` : `0x${address.toString(16)}`;
  }

  toString(): string {
    return `${this.name} ${this.size} ${this.state} 0x${this.base.toString(16)}`;
  }
}

interface ChainEntry extends ModuleNotifierBlock {
  seq: number;
}

export class Modules {
  private readonly mods: LoadedModule[] = [];
  private chain: ChainEntry[] = [];
  private seq = 0;
  private ftrace?: ModuleFtrace;
  private readonly codeHooks: ModuleCodeHook[] = [];
  /** The kernel's kallsyms: image and module text symbols, kept up to date as modules come and go. */
  readonly symbolizer: Symbolizer;

  /** The lab's assembly makes one per kernel (src/lab/lab.ts); the first one is the kernel's. */
  constructor(readonly kernel: Kernel) {
    kernel.modules ??= this;
    this.symbolizer = kernel.kallsyms;
  }

  // --- the list -------------------------------------------------------------------------------

  /** Every module, in load order (COMING and GOING ones included). */
  list(): readonly LoadedModule[] {
    return this.mods;
  }

  /** find_module(): the module called name, in any state. */
  find(name: string): LoadedModule | undefined {
    return this.mods.find((m) => m.name === name);
  }

  /** Whether a module of that name is in the list (COMING, LIVE or GOING). */
  isLoaded(name: string): boolean {
    return this.find(name) !== undefined;
  }

  /** __module_address(): the module whose memory holds address. */
  moduleAt(address: bigint): LoadedModule | undefined {
    return this.mods.find((m) => m.contains(address));
  }

  /** Size of the function or object containing address, if a module holds it. */
  sizeAt(address: bigint): number | undefined {
    return this.moduleAt(address)?.symbolAt(address)?.size;
  }

  /** "function+0xoff/0xsize [module]" for module text, the image's form for image text, else hex. */
  symbolize(address: bigint): string {
    return this.symbolizer.symbolize(address);
  }

  /** A module's symbol, kallsyms style (see LoadedModule.findSymbol). */
  findSymbol(module: string, name: string, sympos?: number): bigint {
    const m = this.find(module);
    if (!m) throw new SymbolNotFoundError(module, name, sympos || undefined);
    return m.findSymbol(name, sympos);
  }

  /**
   * A symbol of any module, by name (local symbols included), or of `module` only: unique, or
   * the sympos-th. Throws SymbolNotFoundError / AmbiguousSymbolError.
   */
  symbol(name: string, opts: { module?: string; sympos?: number } = {}): bigint {
    if (opts.module !== undefined) return this.findSymbol(opts.module, name, opts.sympos);
    const found: Array<{ m: LoadedModule; s: ElfSymbol; at: bigint }> = [];
    for (const m of this.mods)
      for (const s of m.elf.symbolsNamed(name)) {
        const at = m.layout.symbolAddress(s);
        if (at !== undefined) found.push({ m, s, at });
      }
    if (opts.sympos) {
      const f = found[opts.sympos - 1];
      if (!f) throw new SymbolNotFoundError('modules', name, opts.sympos, found.length);
      return f.at;
    }
    if (found.length === 1) return found[0].at;
    if (!found.length) throw new SymbolNotFoundError('modules', name);
    throw new AmbiguousSymbolError(
      'modules',
      name,
      found.map((f) => ({ value: f.at, section: { index: f.s.section?.index ?? 0, name: `${f.s.section?.name ?? '?'} [${f.m.name}]` } })),
    );
  }

  /**
   * What an undefined symbol of a module being loaded may bind to: the image's symbols of that
   * name (static ones included) and LIVE modules' exports.
   */
  resolve(name: string): SymbolCandidate[] {
    const out: SymbolCandidate[] = [];
    for (const s of this.kernel.image.elf.symbolsNamed(name))
      if (s.shndx !== SHN_UNDEF) out.push({ name, address: s.value, owner: 'vmlinux', local: s.bind === STB_LOCAL });
    for (const m of this.mods) {
      const at = m.state === 'LIVE' ? m.exports.get(name) : undefined;
      if (at !== undefined) out.push({ name, address: at, owner: m.name, local: false });
    }
    return out;
  }

  // --- references (try_module_get / module_put) -----------------------------------------------

  /** try_module_get(): false when the module is not there or going away. */
  get(name: string): boolean {
    const m = this.find(name);
    if (!m || m.state === 'GOING') return false;
    m.refcount++;
    return true;
  }

  /** module_put(). */
  put(name: string): void {
    const m = this.find(name);
    if (!m || m.refcount <= 0)
      throw new ModuleLoadError(name, 'EINVAL', `module_put() of ${m ? 'a module with no references' : 'a module not loaded'}`);
    m.refcount--;
  }

  /** Connects ftrace's module hooks (at most once: load_module() knows one ftrace). */
  setFtrace(hooks: ModuleFtrace): void {
    if (this.ftrace) throw new ModuleLoadError('ftrace', 'EBUSY', 'the module loader already has its ftrace hooks');
    this.ftrace = hooks;
  }

  /**
   * Subscribes a keeper of module-code tables (the unwinder); modules already in the list
   * are handed to it at once. Returns its unsubscription.
   */
  addCodeHook<T>(hook: ModuleCodeHook<T>): () => void {
    for (const m of this.mods) hook.add(m, hook.prepare(m.layout));
    this.codeHooks.push(hook as ModuleCodeHook);
    return () => {
      const i = this.codeHooks.indexOf(hook as ModuleCodeHook);
      if (i >= 0) this.codeHooks.splice(i, 1);
    };
  }

  /** ftrace_release_mod() of a module going away; returns what it threw. */
  private releaseFtrace(mod: LoadedModule): unknown[] {
    try {
      this.ftrace?.release(mod);
    } catch (e) {
      return [e];
    }
    return [];
  }

  // --- notifiers ------------------------------------------------------------------------------

  /** Registers a notifier block; returns its unregistration. */
  notifier(block: ModuleNotifierBlock): () => void {
    const entry: ChainEntry = { ...block, seq: this.seq++ };
    this.chain.push(entry);
    this.chain.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.seq - b.seq);
    return () => {
      this.chain = this.chain.filter((e) => e !== entry);
    };
  }

  /** A notifier told of every module coming (placed, before its init). */
  onComing(fn: ModuleNotifier, priority = 0): () => void {
    return this.notifier({ coming: fn, priority });
  }

  /** A notifier told of every module going (after its exit, or after its init failed). */
  onGoing(fn: ModuleNotifier, priority = 0): () => void {
    return this.notifier({ going: fn, priority });
  }

  private notify(fn: ModuleNotifier, mod: LoadedModule, what: string): number {
    const r = fn(mod);
    if (r === undefined) return 0;
    if (typeof r === 'number') return r;
    const v = this.kernel.host.run(`module ${what} ${mod.name}`, r);
    return typeof v === 'number' ? v : 0;
  }

  // --- load -----------------------------------------------------------------------------------

  /**
   * insmod: loads a relocatable object (a path, or an ElfFile already parsed) and returns the
   * LIVE module. Throws ModuleFormatError, UnresolvedSymbolError, RelocationOverflowError,
   * UnsupportedRelocationError or ModuleLoadError with guest memory untouched; ModuleInitError
   * (or a notifier's error) after taking the module away again.
   */
  load(source: string | ElfFile, params: Readonly<Record<string, string>> = {}): LoadedModule {
    const file = typeof source === 'string' ? source : source.fileName;
    let staged: ReturnType<Modules['stage']>;
    try {
      staged = this.stage(source, params);
    } catch (e) {
      throw asLoadError(file, e);
    }
    const { name, base, structAddr, thisModule } = staged;
    const { layout, tables, symbols } = staged.prepared;

    // Commit: from here on the module exists. Nothing here should fail; if something does, the
    // module is taken away again rather than left half registered with its memory held.
    const mod = new LoadedModule(name, layout, symbols, staged.entries);
    try {
      mod.guestStruct = thisModule ? this.placedStruct(layout.placement(thisModule.section)!) : this.guestStruct(structAddr!, name);
      this.kernel.mem.write(base, layout.image);
      // after the image: a module's own struct module is part of it
      mod.state = 'COMING';
      this.record(mod, 'coming');
      const text = layout.regions.text;
      if (text.size) this.kernel.machine.writeCode(text.address, layout.image.subarray(text.offset, text.offset + text.size));
      this.mods.push(mod);
      for (const imp of layout.imports.values()) {
        const owner = imp.target && imp.target.owner !== 'vmlinux' ? this.find(imp.target.owner) : undefined;
        if (owner) {
          mod.uses.add(owner);
          owner.usedBy.add(mod);
        }
      }
      this.codeHooks.forEach((h, i) => h.add(mod, tables[i]));
      this.symbolizer.addModule(symbols);
    } catch (e) {
      if (!mod.guestStruct && structAddr !== undefined) this.kernel.hostMem.release(structAddr);
      this.teardown(mod);
      throw asLoadError(file, e);
    }

    // ftrace learns the module's sites before anyone may trace them
    try {
      this.ftrace?.init(mod);
    } catch (e) {
      mod.state = 'GOING';
      this.teardown(mod);
      throw e;
    }

    // COMING, robustly: if a notifier refuses, those before it are told GOING.
    const chain = [...this.chain];
    for (let i = 0; i < chain.length; i++) {
      const fn = chain[i].coming;
      if (!fn) continue;
      let failure: unknown;
      try {
        const r = this.notify(fn, mod, 'coming');
        if (r < 0) failure = new ModuleLoadError(name, errnoName(r), `a COMING notifier refused the module (${r})`);
      } catch (e) {
        failure = e;
      }
      if (failure !== undefined) {
        mod.state = 'GOING';
        const errors = [...this.goingChain(mod, chain.slice(0, i)), ...this.releaseFtrace(mod)];
        this.teardown(mod);
        throw errors.length ? new AggregateError([failure, ...errors], (failure as Error).message) : failure;
      }
    }

    // init, in task context.
    if (mod.init !== undefined) {
      const initName = mod.symbolize(mod.init);
      // If running it throws (an oops in the init, khostd not done in time), the init may still
      // be on a stack: the module stays COMING, as a kernel module whose init oopsed does.
      const ret = Number(BigInt.asIntN(32, this.kernel.host.run(`init ${name}`, callGuest(mod.init))));
      if (ret < 0) {
        mod.state = 'GOING';
        const errors = [...this.goingChain(mod, this.chain), ...this.releaseFtrace(mod)];
        this.teardown(mod);
        const err = new ModuleInitError(name, ret, initName);
        throw errors.length ? new AggregateError([err, ...errors], err.message) : err;
      }
      if (ret > 0) mod.warnings.push(`'${initName}'->init suspiciously returned ${ret}, it should follow 0/-E convention`);
    }
    mod.state = 'LIVE';
    this.record(mod, 'live');
    return mod;
  }

  /**
   * Everything of a load before the module exists: the object read, laid out, relocated and
   * checked, its memory allocated. On failure guest memory is as it was.
   */
  private stage(source: string | ElfFile, params: Readonly<Record<string, string>>) {
    const elf = typeof source === 'string' ? readObject(source) : source;
    const file = elf.fileName;
    const plan = planModule(elf);
    const thisModule = findThisModule(elf, this.kernel.layout);
    const name = this.nameOf(elf, thisModule);
    const old = this.find(name);
    if (old) throw new ModuleLoadError(file, 'EEXIST', `module '${name}' is already loaded (${old.state})`);

    // Host-side work first: layout, relocation, tables, all checked before any guest byte
    // changes. hostMem.alloc() zeroes the block it hands out, so the layout is tried beforehand
    // at the lowest and the highest base the allocator could return: every relocation's value
    // moves linearly with the base (slope -1, 0 or 1), so if it fits at both ends it fits
    // wherever the block lands, and every error that does not depend on the address shows up
    // here. Only when an end overflows is the host region saved, to be put back on failure.
    const hostMem = this.kernel.hostMem;
    const resolve = (n: string) => this.resolve(n);
    const align = BigInt(plan.align);
    const lowest = ((hostMem.start + align - 1n) / align) * align;
    const highest = ((hostMem.end - BigInt(plan.size)) / align) * align;
    let saved: Buffer | undefined;
    if (highest >= lowest)
      for (const at of [lowest, highest]) {
        try {
          this.prepare(elf, plan, name, at, resolve);
        } catch (e) {
          if (!(e instanceof RelocationOverflowError)) throw e;
          saved ??= Buffer.from(this.kernel.mem.bytes(hostMem.start, Number(hostMem.end - hostMem.start)));
        }
      }
    let base: bigint;
    try {
      base = hostMem.alloc(plan.size, plan.align, `module ${name}`);
    } catch (e) {
      if (e instanceof HostMemoryError) throw new ModuleLoadError(file, 'ENOMEM', e.message, { cause: e });
      throw e;
    }
    try {
      const prepared = this.prepare(elf, plan, name, base, resolve);
      const entries = thisModule && thisModuleEntries(prepared.layout, thisModule, this.kernel.layout);
      applyParams(prepared.layout, name, params);
      const structAddr = thisModule ? undefined : this.allocStruct(file);
      return { elf, name, base, prepared, structAddr, thisModule, entries };
    } catch (e) {
      hostMem.release(base);
      if (saved) this.kernel.mem.write(hostMem.start, saved);
      throw e;
    }
  }

  /**
   * The module's name: its struct module's when it has one (a name= in .modinfo must agree),
   * else .modinfo's name= or the file's name.
   */
  private nameOf(elf: ElfFile, thisModule: ThisModule | undefined): string {
    const name = moduleName(elf);
    if (!thisModule) return name;
    const tagged = readModinfo(elf).get('name');
    if (tagged && tagged[0] !== thisModule.name)
      throw new ModuleFormatError(elf.fileName, `.modinfo says name=${tagged[0]}, its struct module '${thisModule.name}'`, {
        section: thisModule.section,
      });
    return thisModule.name;
  }

  /** The view of a module's own struct module, placed with it: the loader keeps its state. */
  private placedStruct(address: bigint): ModuleStruct {
    const L = this.kernel.layout;
    const stateAt = address + BigInt(L.offset('module', 'state'));
    return { address, hostAllocated: false, setState: (s) => this.kernel.mem.setU32(stateAt, L.constant(`MODULE_STATE_${s}`)) };
  }

  /** Room for a module's struct module; ENOMEM as a load error. */
  private allocStruct(file: string): bigint {
    try {
      return this.kernel.hostMem.alloc(this.kernel.layout.sizeof('module'), 8, `struct module of ${file}`);
    } catch (e) {
      if (e instanceof HostMemoryError) throw new ModuleLoadError(file, 'ENOMEM', e.message, { cause: e });
      throw e;
    }
  }

  /** Fills a struct module (its name) and returns the view that keeps its state current. */
  private guestStruct(address: bigint, name: string): ModuleStruct {
    const L = this.kernel.layout;
    const mem = this.kernel.mem;
    const nameAt = address + BigInt(L.offset('module', 'name'));
    mem.write(nameAt, new TextEncoder().encode(name.slice(0, L.constant('MODULE_NAME_LEN') - 1)));
    const stateAt = address + BigInt(L.offset('module', 'state'));
    return { address, hostAllocated: true, setState: (s) => mem.setU32(stateAt, L.constant(`MODULE_STATE_${s}`)) };
  }

  // --- parameters -----------------------------------------------------------------------------

  /** echo value > /sys/module/<name>/parameters/<param>; ModuleParamError if it cannot be written. */
  setParam(name: string, param: string, value: string): void {
    const mod = this.find(name);
    if (!mod) throw new ModuleLoadError(name, 'ENOENT', `module '${name}' is not loaded`);
    const path = `/sys/module/${name}/parameters/${param}`;
    try {
      writeParam(this.kernel.mem, mod.layout, name, param, value);
    } catch (e) {
      sysfsWriteEvent(this.kernel, path, value, e instanceof ModuleError ? -e.code : -1);
      throw e;
    }
    sysfsWriteEvent(this.kernel, path, value);
  }

  /** The module's state in the event log, as the loader moves it (EV_MODULE). */
  private record(mod: LoadedModule, state: 'coming' | 'live' | 'going' | 'gone'): void {
    const k = this.kernel;
    k.log.hostEvent(EV_MODULE, k.machine.clockNs, 0, -1, 0, 0, 0, `${state} ${mod.name}`);
  }

  /** cat /sys/module/<name>/parameters/<param>. */
  param(name: string, param: string): string {
    const mod = this.find(name);
    if (!mod) throw new ModuleLoadError(name, 'ENOENT', `module '${name}' is not loaded`);
    return readParam(this.kernel.mem, mod.layout, name, param);
  }

  /** The host-side half of a load at `base`: relocated bytes, export checks, the code hooks' and symbol tables. */
  private prepare(elf: ElfFile, plan: ModulePlan, name: string, base: bigint, resolve: (n: string) => SymbolCandidate[]) {
    const layout = layoutModule(elf, { base, plan, resolve });
    this.checkExports(layout);
    const tables = this.codeHooks.map((h) => h.prepare(layout));
    const symbols = SymbolTable.fromElf(elf, { module: name, place: layout.placement });
    return { layout, tables, symbols };
  }

  /** Exported names must be unique among the image's globals and every module's exports. */
  private checkExports(layout: ModuleLayout): void {
    for (const name of layout.exports.keys()) {
      const image = this.kernel.image.elf
        .symbolsNamed(name)
        .find((s) => s.bind !== STB_LOCAL && (s.type === STT_FUNC || s.type === STT_OBJECT));
      const owner = image ? 'vmlinux' : this.mods.find((m) => m.exports.has(name))?.name;
      if (owner) throw new ModuleLoadError(layout.file, 'ENOEXEC', `exports duplicate symbol ${name} (owned by ${owner})`);
    }
  }

  // --- unload ---------------------------------------------------------------------------------

  /**
   * rmmod: refused while other modules use this one's exports or hold references (-EWOULDBLOCK),
   * when it is not LIVE (-EBUSY), or when it has an init but no exit (-EBUSY) unless forced.
   * Runs the exit function in task context, tells the GOING notifiers, releases the memory.
   */
  unload(name: string, opts: { force?: boolean } = {}): void {
    const mod = this.find(name);
    if (!mod) throw new ModuleLoadError(name, 'ENOENT', `module '${name}' is not loaded`);
    if (mod.usedBy.size)
      throw new ModuleLoadError(name, 'EWOULDBLOCK', `module '${name}' is in use by: ${[...mod.usedBy].map((m) => m.name).join(' ')}`);
    if (mod.state !== 'LIVE') throw new ModuleLoadError(name, 'EBUSY', `module '${name}' is ${mod.state}`);
    if (mod.init !== undefined && mod.exit === undefined && !opts.force)
      throw new ModuleLoadError(name, 'EBUSY', `module '${name}' has an init function but no exit function: it cannot be unloaded`);
    if (mod.refcount > 0 && !opts.force)
      throw new ModuleLoadError(
        name,
        'EWOULDBLOCK',
        `module '${name}' is in use (${mod.refcount} reference${mod.refcount === 1 ? '' : 's'})`,
      );
    mod.state = 'GOING';
    this.record(mod, 'going');
    const errors: unknown[] = [];
    if (mod.exit !== undefined) {
      try {
        this.kernel.host.run(`exit ${name}`, callGuest(mod.exit));
      } catch (e) {
        errors.push(e);
      }
    }
    errors.push(...this.goingChain(mod, this.chain), ...this.releaseFtrace(mod));
    this.teardown(mod);
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new AggregateError(errors, `unloading '${name}': ${errors.length} errors`);
  }

  /** Tells the GOING notifiers of `chain`, in order; returns what they threw (every one runs). */
  private goingChain(mod: LoadedModule, chain: readonly ChainEntry[]): unknown[] {
    const errors: unknown[] = [];
    for (const e of [...chain]) {
      if (!e.going) continue;
      try {
        this.notify(e.going, mod, 'going');
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  /** Unregisters everything of a module and releases its memory (zeroed), with no stale translations. */
  private teardown(mod: LoadedModule): void {
    if (this.mods.includes(mod)) this.record(mod, 'gone');
    for (const h of this.codeHooks) h.remove(mod);
    this.symbolizer.removeModule(mod.name);
    for (const m of mod.uses) m.usedBy.delete(mod);
    mod.uses.clear();
    const i = this.mods.indexOf(mod);
    if (i >= 0) this.mods.splice(i, 1);
    const t = mod.text;
    if (t.size) for (const cpu of this.kernel.machine.cpus) cpu.uc.tbRemoveCache(t.address, t.address + BigInt(t.size));
    this.kernel.hostMem.release(mod.base);
    if (mod.guestStruct?.hostAllocated) this.kernel.hostMem.release(mod.guestStruct.address);
  }
}

/** Reads an object file; a missing file is -ENOENT, a damaged one a ModuleFormatError. */
function readObject(path: string): ElfFile {
  try {
    return ElfFile.read(path);
  } catch (e) {
    if (e instanceof ElfFormatError) throw new ModuleFormatError(path, e.message.replace(`${e.file}: `, ''), {}, { cause: e });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModuleLoadError(path, 'ENOENT', `no such file: ${basename(path)}`, { cause: e });
    if (code)
      throw new ModuleLoadError(path, isErrno(code) ? code : 'EIO', `cannot read ${basename(path)}: ${(e as Error).message}`, { cause: e });
    throw e;
  }
}

/**
 * What a failed load throws: the loader's own errors (and the code hooks', which throw them) as
 * they are; the ELF reader's (which names the file already) as a ModuleFormatError; anything else a malformed
 * object provoked in code that trusted it (a RangeError, a TypeError) as a ModuleFormatError too,
 * with the original as its cause. The caller gets one family of typed errors naming the file.
 */
function asLoadError(file: string, e: unknown): unknown {
  if (e instanceof ModuleError) return e;
  if (e instanceof ElfError) return new ModuleFormatError(file, e.message.replace(`${e.file}: `, ''), {}, { cause: e });
  if (e instanceof Error) return new ModuleFormatError(file, `malformed object: ${e.name}: ${e.message}`, {}, { cause: e });
  return new ModuleFormatError(file, `malformed object: ${String(e)}`, {}, { cause: e });
}
