// SPDX-License-Identifier: GPL-2.0-or-later
// TS side of libklpemu.so (klpemu.c): loads it, checks the struct klp_cpu_ctl
// layout against the C compiler's, and gives a zero-copy view of one vCPU's
// control block plus the glue that installs the C hooks on an engine.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE } from '../unicorn-const.ts';
import type { NativePointer, Uc, UcHook } from '../unicorn.ts';

export const KLPEMU_PATH = fileURLToPath(new URL('../../../build/native/libklpemu.so', import.meta.url));

/** stop_reason bits. */
export const KLP_STOP_BUDGET = 1;
export const KLP_STOP_INTR = 2;
/** A pending interrupt and IF just became 1 (after sti's shadow, popf, iret): klp_run delivers it. */
export const KLP_STOP_IRQ = 4;
/** The watch ring is full (setWatch): the host reads it and the quantum goes on. */
export const KLP_STOP_WATCH = 8;
/** A debugger's stop (a breakpoint, a step's count, a watched access), before the instruction at rip. */
export const KLP_STOP_BREAK = 16;

/** klp_hook_ptr(which). */
export const KLP_HOOK_BLOCK = 0;
export const KLP_HOOK_INTR = 1;
export const KLP_HOOK_BREAK = 2;
export const KLP_HOOK_STEP = 3;
export const KLP_HOOK_WATCH = 4;

/**
 * struct klp_cpu_ctl byte offsets: the one place TS knows the layout. The
 * order is the field order of klp_ctl_offset(); load() asserts each.
 */
export const CTL = {
  insns: 0,
  blocks: 8,
  stopAt: 16,
  unmapped: 24,
  lastBlockEnd: 32,
  stopReason: 40,
  intno: 44,
  imap: 48,
  imapBase: 56,
  imapSize: 64,
  ram: 72,
  ramBase: 80,
  ramSize: 88,
  idtBase: 96,
  tssBase: 104,
  ring0: 112,
  rip: 120,
  runErr: 128,
  deliverErr: 132,
  softVectors: 136,
  delivered: 168,
  pending: 2216,
  halted: 2248,
  irqWindow: 2252,
  emap: 2256,
  inRun: 2264,
  wmap: 2272,
  wring: 2280,
  currAt: 2288,
  taskOff: 2296,
  watchCpu: 2308,
  breakAt: 2312,
  resumeAt: 2320,
  watchAddr: 2328,
  watchHit: 2336,
  cont: 2340,
  stopPc: 2344,
} as const;
export const CTL_SIZE = 2352;

/** struct klp_watch_ring: head and cap (u64 each), then the hits. */
export const WATCH_RING_HEADER = 16;
/** struct klp_watch_hit: addr, task, rsp (u64), word[3], cpu (u32). */
export const WATCH_HIT_SIZE = 40;

/** No instruction count (break_at, resume_at unset). */
export const NO_COUNT = 0xffff_ffff_ffff_ffffn;

/** klp_run() results. */
export const KLP_RUN_BUDGET = 1;
export const KLP_RUN_HALT = 2;
export const KLP_RUN_INTR = 3;
export const KLP_RUN_ERROR = 4;
export const KLP_RUN_STOPPED = 5;
export const KLP_RUN_DELIVERY = 6;
export const KLP_RUN_WATCH = 7;
export const KLP_RUN_BREAK = 8;

/** klp_deliver() failures, indexed by code. */
export const KLP_DELIVER_ERRORS = [
  'ok',
  'the cpu has not come online (no IDT yet)',
  'the IDT gate lies outside RAM',
  'IDT gate not present',
  'IDT gate is neither an interrupt nor a trap gate',
  'gate DPL below the current privilege level (#GP)',
  'TSS.sp0 lies outside RAM',
  'the interrupt frame would lie outside RAM',
] as const;

interface KlpEmu {
  hookBlock: NativePointer;
  hookIntr: NativePointer;
  hookBreak: NativePointer;
  hookStep: NativePointer;
  hookWatch: NativePointer;
  setImap: (ctl: Buffer, imap: Uint8Array | null, base: bigint, size: bigint) => void;
  setEmap: (ctl: Buffer, emap: Uint8Array | null) => void;
  setCpu: (ctl: Buffer, ram: Buffer, base: bigint, size: bigint, ring0: number, idt: bigint, tss: bigint) => void;
  run: (uc: number, ctl: Buffer) => number;
  deliver: (uc: number, ctl: Buffer, vector: number, soft: number) => number;
  setWatch: (
    ctl: Buffer,
    wmap: Uint8Array | null,
    ring: Buffer | null,
    currAt: bigint,
    o0: number,
    o1: number,
    o2: number,
    cpu: number,
  ) => void;
  ctlSize: number;
  ctlOffset: (field: number) => number;
  ramDelta: (ram: Buffer, shadow: Buffer, size: bigint, page: number, out: Uint32Array, update: number) => number;
  contextGet: (context: number, buf: Buffer, size: bigint) => void;
  contextPut: (context: number, buf: Buffer, size: bigint) => void;
  /**
   * What klp_fast_stores() (store-path.c) returned when the library was loaded: the slots of
   * libunicorn that now skip the page-collection bookkeeping of every guest store (2 on
   * Unicorn 2.0.1), 0 for a Unicorn that has none, -1 if they could not be rewritten.
   */
  fastStores: number;
}

let loaded: KlpEmu | null = null;

// ctl Buffer -> its instruction map. C holds the map's address; the hooks
// keep the ctl Buffer alive (UcHook.keepAlive), and through this the map,
// even if the CpuCtl object itself is dropped.
const mapOfCtl = new WeakMap<Buffer, Uint8Array>();
const emapOfCtl = new WeakMap<Buffer, Uint8Array>();
const watchOfCtl = new WeakMap<Buffer, [Uint8Array, Buffer]>();

/** Loads libklpemu.so once and checks the layout; throws if it was not built. */
export function klpemu(): KlpEmu {
  if (loaded) return loaded;
  if (!existsSync(KLPEMU_PATH)) {
    throw new Error(`${KLPEMU_PATH} is missing: build it with \`make -C src/emu/native\` from the repo root`);
  }
  const lib = koffi.load(KLPEMU_PATH);
  const hookPtr = lib.func('void *klp_hook_ptr(int which)');
  const ctlSize = lib.func('uint32_t klp_ctl_size(void)')() as number;
  const ctlOffset = lib.func('int32_t klp_ctl_offset(int field)') as (field: number) => number;
  const setImap = lib.func('void klp_ctl_set_imap(void *ctl, void *imap, uint64_t base, uint64_t size)');
  if (ctlSize !== CTL_SIZE) throw new Error(`klpemu: sizeof(struct klp_cpu_ctl) is ${ctlSize}, TS expects ${CTL_SIZE}`);
  Object.values(CTL).forEach((off, field) => {
    const c = ctlOffset(field);
    if (c !== off) throw new Error(`klpemu: klp_cpu_ctl field #${field} is at ${c} in C, ${off} in TS`);
  });
  const hitSize = lib.func('uint32_t klp_watch_hit_size(void)')() as number;
  if (hitSize !== WATCH_HIT_SIZE) throw new Error(`klpemu: sizeof(struct klp_watch_hit) is ${hitSize}, TS expects ${WATCH_HIT_SIZE}`);
  // before any engine runs a store: every vCPU's engine is the one library
  const fastStores = lib.func('int klp_fast_stores(void)')() as number;
  loaded = {
    fastStores,
    hookBlock: hookPtr(KLP_HOOK_BLOCK),
    hookIntr: hookPtr(KLP_HOOK_INTR),
    hookBreak: hookPtr(KLP_HOOK_BREAK),
    hookStep: hookPtr(KLP_HOOK_STEP),
    hookWatch: hookPtr(KLP_HOOK_WATCH),
    setImap: setImap as KlpEmu['setImap'],
    setEmap: lib.func('void klp_ctl_set_emap(void *ctl, void *emap)') as KlpEmu['setEmap'],
    setCpu: lib.func(
      'void klp_ctl_set_cpu(void *ctl, void *ram, uint64_t base, uint64_t size, uintptr_t ring0, uint64_t idt, uint64_t tss)',
    ) as KlpEmu['setCpu'],
    run: lib.func('int klp_run(uintptr_t uc, void *ctl)') as KlpEmu['run'],
    deliver: lib.func('int klp_deliver(uintptr_t uc, void *ctl, uint32_t vector, int soft)') as KlpEmu['deliver'],
    setWatch: lib.func(
      'void klp_ctl_set_watch(void *ctl, void *wmap, void *ring, uint64_t curr, uint32_t o0, uint32_t o1, uint32_t o2, uint32_t cpu)',
    ) as KlpEmu['setWatch'],
    ctlSize,
    ctlOffset,
    ramDelta: lib.func(
      'uint32_t klp_ram_delta(const void *ram, void *shadow, uint64_t size, uint32_t page, void *out, int update)',
    ) as KlpEmu['ramDelta'],
    contextGet: lib.func('void klp_context_get(uintptr_t context, void *buf, uint64_t size)') as KlpEmu['contextGet'],
    contextPut: lib.func('void klp_context_put(uintptr_t context, const void *buf, uint64_t size)') as KlpEmu['contextPut'],
  };
  return loaded;
}

/**
 * A vCPU's struct klp_cpu_ctl. The memory is a Buffer over its own
 * ArrayBuffer, which V8 never moves, so the C hooks can keep its address.
 * Keep this object alive while any engine has its hooks installed (the
 * UcHook returned by attach also references the Buffer).
 */
export class CpuCtl {
  readonly buffer: Buffer;
  private readonly u64: BigUint64Array;
  private readonly u32: Uint32Array;

  constructor() {
    klpemu();
    this.buffer = Buffer.from(new ArrayBuffer(CTL_SIZE));
    this.u64 = new BigUint64Array(this.buffer.buffer, this.buffer.byteOffset, CTL_SIZE / 8);
    this.u32 = new Uint32Array(this.buffer.buffer, this.buffer.byteOffset, CTL_SIZE / 4);
    this.stopAt = 0xffff_ffff_ffff_ffffn;
    this.breakAt = NO_COUNT;
    this.resumeAt = NO_COUNT;
  }

  /** klp_hook_step stops before the instruction with this count (NO_COUNT: none). */
  get breakAt(): bigint {
    return this.u64[CTL.breakAt / 8];
  }
  set breakAt(v: bigint) {
    this.u64[CTL.breakAt / 8] = v;
  }
  /** Where the last debugger's stop left the cpu: no hook stops there again. */
  get resumeAt(): bigint {
    return this.u64[CTL.resumeAt / 8];
  }
  set resumeAt(v: bigint) {
    this.u64[CTL.resumeAt / 8] = v;
  }
  /** The first watched access since it was last cleared: its address and UC_MEM_* type, or null. */
  get watchHit(): { address: bigint; type: number } | null {
    const t = this.u32[CTL.watchHit / 4];
    return t ? { address: this.u64[CTL.watchAddr / 8], type: t - 1 } : null;
  }
  clearWatchHit(): void {
    this.u32[CTL.watchHit / 4] = 0;
  }

  /** Installs a debugger's hook (klp_hook_break on [begin, end], klp_hook_step, klp_hook_watch) on uc. */
  attachDebug(uc: Uc, which: 'break' | 'step' | 'watch-read' | 'watch-write', begin?: bigint, end?: bigint): UcHook {
    const k = klpemu();
    if (which === 'break') return uc.hookAddNative(UC_HOOK_CODE, k.hookBreak, this.buffer, begin, end);
    if (which === 'step') return uc.hookAddNative(UC_HOOK_CODE, k.hookStep, this.buffer);
    const type = which === 'watch-read' ? UC_HOOK_MEM_READ : UC_HOOK_MEM_WRITE;
    return uc.hookAddNative(type, k.hookWatch, this.buffer, begin, end);
  }

  get insns(): bigint {
    return this.u64[CTL.insns / 8];
  }
  /** insns as a double, without allocating (exact below 2^53). */
  get insnCount(): number {
    return this.u32[CTL.insns / 4] + this.u32[CTL.insns / 4 + 1] * 4294967296;
  }
  /** Sets stopAt from a double (exact below 2^53), without allocating. */
  setStopAt(n: number): void {
    this.u32[CTL.stopAt / 4] = n % 4294967296;
    this.u32[CTL.stopAt / 4 + 1] = Math.floor(n / 4294967296);
  }
  set insns(v: bigint) {
    this.u64[CTL.insns / 8] = v;
  }
  get blocks(): bigint {
    return this.u64[CTL.blocks / 8];
  }
  set blocks(v: bigint) {
    this.u64[CTL.blocks / 8] = v;
  }
  /** uc_emu_stop() at the first block start where insns >= stopAt (default: never). */
  get stopAt(): bigint {
    return this.u64[CTL.stopAt / 8];
  }
  set stopAt(v: bigint) {
    this.u64[CTL.stopAt / 8] = v;
  }
  get unmapped(): bigint {
    return this.u64[CTL.unmapped / 8];
  }
  get lastBlockEnd(): bigint {
    return this.u64[CTL.lastBlockEnd / 8];
  }
  /** KLP_STOP_* bits, sticky until cleared by writing 0. */
  get stopReason(): number {
    return this.u32[CTL.stopReason / 4];
  }
  set stopReason(v: number) {
    this.u32[CTL.stopReason / 4] = v;
  }
  get intno(): number {
    return this.u32[CTL.intno / 4];
  }
  get imapBase(): bigint {
    return this.u64[CTL.imapBase / 8];
  }
  get imapSize(): bigint {
    return this.u64[CTL.imapSize / 8];
  }

  /** Where klp_run() stopped. */
  get rip(): bigint {
    return this.u64[CTL.rip / 8];
  }
  get runErr(): number {
    return this.u32[CTL.runErr / 4];
  }
  get deliverErr(): number {
    return this.u32[CTL.deliverErr / 4];
  }
  /** Interrupts delivered so far on this vector (by klp_deliver). */
  delivered(vector: number): number {
    return Number(this.u64[CTL.delivered / 8 + (vector & 0xff)]);
  }
  /** Raises an interrupt: klp_run() delivers the highest pending vector when IF allows. */
  raise(vector: number): void {
    this.u32[CTL.pending / 4 + ((vector >> 5) & 7)] |= 1 << (vector & 31);
  }
  /** Drops every raised, undelivered interrupt (an INIT of the cpu). */
  clearPending(): void {
    this.u32.fill(0, CTL.pending / 4, CTL.pending / 4 + 8);
  }
  get hasPending(): boolean {
    const p = CTL.pending / 4;
    const u = this.u32;
    return (u[p] | u[p + 1] | u[p + 2] | u[p + 3] | u[p + 4] | u[p + 5] | u[p + 6] | u[p + 7]) !== 0;
  }
  /** In hlt, waiting for an interrupt. */
  get halted(): boolean {
    return this.u32[CTL.halted / 4] !== 0;
  }
  set halted(v: boolean) {
    this.u32[CTL.halted / 4] = v ? 1 : 0;
  }

  /** Lets klp_run() deliver `int vector` itself (the system call gate). */
  allowSoftVector(vector: number): void {
    this.buffer[CTL.softVectors + (vector >> 3)] |= 1 << (vector & 7);
  }

  /** What klp_deliver() needs: RAM (kept alive by the caller), the ring-0 snapshot, IDT and TSS. */
  setCpu(ram: Buffer, ramBase: bigint, ring0: number, idtBase: bigint, tssBase: bigint): void {
    klpemu().setCpu(this.buffer, ram, ramBase, BigInt(ram.length), ring0, idtBase, tssBase);
  }

  /** One quantum on uc (see klp_run): a KLP_RUN_* code; the uc_err of a failure is runErr. */
  run(uc: Uc): number {
    return klpemu().run(uc.engine, this.buffer);
  }

  /** Delivers vector now (see klp_deliver): 0 or an index into KLP_DELIVER_ERRORS. */
  deliver(uc: Uc, vector: number, soft: boolean): number {
    return klpemu().deliver(uc.engine, this.buffer, vector, soft ? 1 : 0);
  }

  /** Zeroes the counters and the stop reason; keeps stopAt and the map. */
  reset(): void {
    this.u64[CTL.insns / 8] = 0n;
    this.u64[CTL.blocks / 8] = 0n;
    this.u64[CTL.unmapped / 8] = 0n;
    this.u64[CTL.lastBlockEnd / 8] = 0n;
    this.u32[CTL.stopReason / 4] = 0;
    this.u32[CTL.intno / 4] = 0;
  }

  /**
   * Instruction-start bitmap: bit i (bit i & 7 of byte i >> 3) set = an
   * instruction starts at base + i; covers `size` bytes (default all bits).
   * Not copied: later changes to `map` (new code) are seen by the hook.
   * Several CpuCtls may share one map.
   */
  setInstructionMap(map: Uint8Array | null, base = 0n, size?: bigint): void {
    if (map === null) {
      klpemu().setImap(this.buffer, null, 0n, 0n);
      mapOfCtl.delete(this.buffer);
      return;
    }
    const bits = BigInt(map.byteLength) * 8n;
    const covered = size ?? bits;
    if (covered > bits) throw new RangeError(`setInstructionMap: ${map.byteLength} bytes cover ${bits}, not ${covered}`);
    // Small typed arrays can live on the V8 heap, where they move; touching
    // .buffer makes V8 give them a fixed off-heap backing store for good.
    void map.buffer;
    klpemu().setImap(this.buffer, map, base, covered);
    mapOfCtl.set(this.buffer, map);
  }

  /**
   * Where the instructions that may set IF (sti, popf, iret) end, over the instruction map's
   * range (see markIrqEnable): the block hook then stops the quantum for a pending interrupt
   * as soon as IF becomes 1. Not copied, like the instruction map; null: only at quantum
   * starts and in hlt.
   */
  setIrqEnableMap(map: Uint8Array | null): void {
    if (map === null) {
      klpemu().setEmap(this.buffer, null);
      emapOfCtl.delete(this.buffer);
      return;
    }
    const need = Number(this.imapSize) + 1;
    if (map.byteLength * 8 < need) throw new RangeError(`setIrqEnableMap: ${map.byteLength} bytes cover fewer than ${need} bits`);
    void map.buffer; // a fixed backing store, as in setInstructionMap
    klpemu().setEmap(this.buffer, map);
    emapOfCtl.set(this.buffer, map);
  }

  /**
   * Watched entries: every execution of a block starting at an address whose bit is set in
   * `map` (over the instruction map's range) is recorded in `ring` (a WatchRing's buffer) with
   * the task current then (read at `currAt`) and three 32-bit words of that task (at offsets
   * `taskWords`). Not copied, like the instruction map; null: nothing is watched.
   */
  setWatch(
    map: Uint8Array | null,
    ring: Buffer | null,
    currAt = 0n,
    taskWords: readonly [number, number, number] = [0, 0, 0],
    cpu = 0,
  ): void {
    if (map === null || ring === null) {
      klpemu().setWatch(this.buffer, null, null, 0n, 0, 0, 0, 0);
      watchOfCtl.delete(this.buffer);
      return;
    }
    if (map.byteLength * 8 < Number(this.imapSize))
      throw new RangeError(`setWatch: ${map.byteLength} bytes cover fewer than ${this.imapSize} bits`);
    void map.buffer; // a fixed backing store, as in setInstructionMap
    klpemu().setWatch(this.buffer, map, ring, currAt, taskWords[0], taskWords[1], taskWords[2], cpu);
    watchOfCtl.set(this.buffer, [map, ring]);
  }

  /** Installs klp_hook_block and klp_hook_intr on uc with this ctl as user_data. */
  attach(uc: Uc): { block: UcHook; intr: UcHook } {
    const k = klpemu();
    return {
      block: uc.hookAddNative(UC_HOOK_BLOCK, k.hookBlock, this.buffer),
      intr: uc.hookAddNative(UC_HOOK_INTR, k.hookIntr, this.buffer),
    };
  }
}

/**
 * The ring the watched entries' hits go to (struct klp_watch_ring), shared by every vCPU of a
 * machine: read with hit fields below, emptied with clear().
 */
export class WatchRing {
  readonly buffer: Buffer;
  private readonly u32: Uint32Array;
  private readonly baseLo: number;
  private readonly baseHi: number;

  /** `ramBase`: the addresses of the hits are read as offsets from it (guest RAM lies in one 4 GiB window). */
  constructor(
    readonly capacity: number,
    ramBase: bigint,
  ) {
    this.buffer = Buffer.from(new ArrayBuffer(WATCH_RING_HEADER + capacity * WATCH_HIT_SIZE));
    this.u32 = new Uint32Array(this.buffer.buffer);
    this.u32[2] = capacity;
    this.baseLo = Number(ramBase & 0xffffffffn);
    this.baseHi = Number(ramBase >> 32n);
  }

  /** Hits recorded since the last clear(). */
  get length(): number {
    return this.u32[0];
  }
  clear(): void {
    this.u32[0] = 0;
    this.u32[1] = 0;
  }
  /** The u64 at word w of hit i as an offset from the RAM base, NaN outside its 4 GiB window. */
  private offset(i: number, w: number): number {
    const o = (WATCH_RING_HEADER + i * WATCH_HIT_SIZE) / 4 + w;
    return this.u32[o + 1] === this.baseHi ? this.u32[o] - this.baseLo : NaN;
  }
  /** Where hit i ran, its task and its stack pointer, as RAM offsets. */
  addr(i: number): number {
    return this.offset(i, 0);
  }
  task(i: number): number {
    return this.offset(i, 2);
  }
  rsp(i: number): number {
    return this.offset(i, 4);
  }
  word(i: number, w: number): number {
    return this.u32[(WATCH_RING_HEADER + i * WATCH_HIT_SIZE) / 4 + 6 + w];
  }
  cpu(i: number): number {
    return this.u32[(WATCH_RING_HEADER + i * WATCH_HIT_SIZE) / 4 + 9];
  }
}

/** An instruction-start bitmap for `size` bytes of code, off the V8 heap. */
export function allocInstructionMap(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(Math.ceil(size / 8)));
}

/** An interrupt-enable map (setIrqEnableMap) for `size` bytes of code: one bit more than the range. */
export function allocIrqEnableMap(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(Math.floor(size / 8) + 1));
}

/** Marks an instruction start at `offset` (bytes from the map's base). */
export function markInstruction(map: Uint8Array, offset: number): void {
  map[offset >> 3] |= 1 << (offset & 7);
}

/**
 * The pages (of `page` bytes) where `ram` and `shadow` differ, as indices into `out` (room for
 * one per page); their count is returned. With `update`, shadow takes those pages from ram.
 */
export function ramDelta(ram: Buffer, shadow: Buffer, page: number, out: Uint32Array, update: boolean): number {
  if (shadow.length !== ram.length || ram.length % page || out.length < ram.length / page)
    throw new RangeError(`ramDelta: ${ram.length} bytes of RAM, ${shadow.length} of shadow, room for ${out.length} pages of ${page}`);
  return klpemu().ramDelta(ram, shadow, BigInt(ram.length), page, out, update ? 1 : 0);
}

/** Copies `buf.length` bytes of the native memory at `context` (a uc_context) into buf, or back. */
export function contextBytes(context: number, buf: Buffer, put: boolean): void {
  if (put) klpemu().contextPut(context, buf, BigInt(buf.length));
  else klpemu().contextGet(context, buf, BigInt(buf.length));
}
