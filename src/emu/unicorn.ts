// SPDX-License-Identifier: GPL-2.0-or-later
// Thin typed wrapper over libunicorn.so.2 (Unicorn 2.0.1) through koffi, in the
// spirit of Unicorn's Python binding: one method per C call, every non-zero
// uc_err turned into a UnicornError, no policy. The notes below record what
// this version of Unicorn really does where the header does not say.

import koffi from 'koffi';
import type { IKoffiCType, IKoffiRegisteredCallback } from 'koffi';
import * as C from './unicorn-const.ts';

// ---------------------------------------------------------------------------
// The library, loaded once.

const lib = koffi.load('libunicorn.so.2');

// Pointer arguments are expensive in koffi: an External costs ~170 ns of
// type-tag checks per call, a Buffer ~150 ns, while a plain uintptr_t Number
// costs nothing extra (uc_reg_read: 245 ns vs 76 ns, measured). So the engine,
// contexts and our own native scratch/batch memory travel as uintptr_t
// Numbers (user-space addresses fit in 53 bits). Caller Buffers still go as
// `void *`, which koffi passes without copying.
const uc_version = lib.func('unsigned int uc_version(void *major, void *minor)');
const uc_open = lib.func('int uc_open(int arch, int mode, _Out_ void **uc)');
const uc_close = lib.func('int uc_close(uintptr_t uc)');
const uc_strerror = lib.func('const char *uc_strerror(int code)');
const uc_ctl = lib.func('int uc_ctl(uintptr_t uc, int control, ...)');
const uc_reg_read = lib.func('int uc_reg_read(uintptr_t uc, int regid, uintptr_t value)');
const uc_reg_write = lib.func('int uc_reg_write(uintptr_t uc, int regid, uintptr_t value)');
const uc_reg_read_batch = lib.func('int uc_reg_read_batch(uintptr_t uc, uintptr_t regs, uintptr_t vals, int count)');
const uc_reg_write_batch = lib.func('int uc_reg_write_batch(uintptr_t uc, uintptr_t regs, uintptr_t vals, int count)');
const uc_mem_read = lib.func('int uc_mem_read(uintptr_t uc, uint64_t address, void *bytes, size_t size)');
const uc_mem_write = lib.func('int uc_mem_write(uintptr_t uc, uint64_t address, void *bytes, size_t size)');
const uc_mem_read_scratch = lib.func('int uc_mem_read(uintptr_t uc, uint64_t address, uintptr_t bytes, size_t size)');
const uc_mem_write_scratch = lib.func('int uc_mem_write(uintptr_t uc, uint64_t address, uintptr_t bytes, size_t size)');
const uc_mem_map = lib.func('int uc_mem_map(uintptr_t uc, uint64_t address, size_t size, uint32_t perms)');
const uc_mem_map_ptr = lib.func('int uc_mem_map_ptr(uintptr_t uc, uint64_t address, size_t size, uint32_t perms, void *ptr)');
const uc_mem_unmap = lib.func('int uc_mem_unmap(uintptr_t uc, uint64_t address, size_t size)');
const uc_mem_protect = lib.func('int uc_mem_protect(uintptr_t uc, uint64_t address, size_t size, uint32_t perms)');
const uc_emu_start = lib.func('int uc_emu_start(uintptr_t uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)');
const uc_emu_stop = lib.func('int uc_emu_stop(uintptr_t uc)');
// Variadic: UC_HOOK_INSN takes the instruction id as an extra int.
const uc_hook_add = lib.func(
  'int uc_hook_add(uintptr_t uc, void *hh, int type, void *callback, void *user_data, uint64_t begin, uint64_t end, ...)',
);
const uc_hook_del = lib.func('int uc_hook_del(uintptr_t uc, size_t hh)');
const uc_context_alloc = lib.func('int uc_context_alloc(uintptr_t uc, _Out_ void **context)');
const uc_context_save = lib.func('int uc_context_save(uintptr_t uc, uintptr_t context)');
const uc_context_restore = lib.func('int uc_context_restore(uintptr_t uc, uintptr_t context)');
const uc_context_free = lib.func('int uc_context_free(uintptr_t context)');
const uc_context_size = lib.func('size_t uc_context_size(uintptr_t uc)');

// Callback prototypes, one per hook family (unicorn.h / x86.h typedefs). The
// engine and user_data come as uintptr_t too: we do not need them as objects.
const cb_hookcode = koffi.proto('void uc_cb_hookcode_t(uintptr_t uc, uint64_t address, uint32_t size, uintptr_t user_data)');
const cb_hookintr = koffi.proto('void uc_cb_hookintr_t(uintptr_t uc, uint32_t intno, uintptr_t user_data)');
const cb_insn_invalid = koffi.proto('bool uc_cb_hookinsn_invalid_t(uintptr_t uc, uintptr_t user_data)');
const cb_insn_in = koffi.proto('uint32_t uc_cb_insn_in_t(uintptr_t uc, uint32_t port, int size, uintptr_t user_data)');
const cb_insn_out = koffi.proto('void uc_cb_insn_out_t(uintptr_t uc, uint32_t port, int size, uint32_t value, uintptr_t user_data)');
const cb_insn_syscall = koffi.proto('void uc_cb_insn_syscall_t(uintptr_t uc, uintptr_t user_data)');
const cb_insn_cpuid = koffi.proto('int uc_cb_insn_cpuid_t(uintptr_t uc, uintptr_t user_data)');
const cb_hookmem = koffi.proto(
  'void uc_cb_hookmem_t(uintptr_t uc, int type, uint64_t address, int size, int64_t value, uintptr_t user_data)',
);
const cb_eventmem = koffi.proto(
  'bool uc_cb_eventmem_t(uintptr_t uc, int type, uint64_t address, int size, int64_t value, uintptr_t user_data)',
);

/** The address behind a koffi pointer, as the Number our uintptr_t parameters take. */
function addr(p: NativePointer): number {
  return Number(koffi.address(p));
}

/** (major << 24 | minor << 16 | patch << 8 | extra) of the loaded library. */
export function ucVersion(): number {
  return uc_version(null, null) as number;
}

// koffi gives 64-bit integers as Number below 2^53 and as BigInt above.
function big(v: number | bigint): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

function hex(v: number | bigint): string {
  return '0x' + v.toString(16);
}

// Native scratch memory shared by all engines (JS is single-threaded and every
// use is within one synchronous call). koffi.alloc memory never moves, so its
// address can be passed as a plain uintptr_t Number.
const SCRATCH_BYTES = 64;
const scratchMem = koffi.alloc('uint64_t', SCRATCH_BYTES / 8);
const scratchPtr = addr(scratchMem);
const scratchAb = koffi.view(scratchMem, SCRATCH_BYTES);
const scratch64 = new BigUint64Array(scratchAb);
const scratchView = new DataView(scratchAb);
const scratchBytes = new Uint8Array(scratchAb);
const hookIdOut = new BigUint64Array(1);

// ---------------------------------------------------------------------------
// Errors

/** A non-zero uc_err, naming the call, its address arguments and Unicorn's message. */
export class UnicornError extends Error {
  override name = 'UnicornError';

  constructor(
    readonly call: string,
    readonly code: number,
    args: readonly (number | bigint)[] = [],
    readonly address?: bigint,
  ) {
    const at = address === undefined ? '' : ` at ${hex(address)}`;
    super(`${call}(${args.map(hex).join(', ')}): ${uc_strerror(code) as string}${at}`);
  }

  get codeName(): string {
    return C.UC_ERR_NAMES[this.code] ?? `UC_ERR_${this.code}`;
  }
}

function check(rc: number, call: string, args?: readonly (number | bigint)[], address?: bigint): void {
  if (rc !== C.UC_ERR_OK) throw new UnicornError(call, rc, args, address);
}

// ---------------------------------------------------------------------------
// Types

/** Opaque native pointer as koffi represents it. */
export type NativePointer = unknown;

/** struct uc_x86_mmr: GDTR/IDTR use base and limit only; LDTR/TR all four. */
export interface X86Mmr {
  selector: number;
  base: bigint;
  limit: number;
  flags: number;
}

export type HookIntr = (uc: Uc, intno: number) => void;
export type HookCode = (uc: Uc, address: bigint, size: number) => void;
/** Valid accesses (UC_HOOK_MEM_READ/WRITE/FETCH/READ_AFTER); type is a UC_MEM_* value. */
export type HookMem = (uc: Uc, type: number, address: bigint, size: number, value: bigint) => void;
/** Unmapped/protection faults: return true if handled (e.g. mapped) to retry the access. */
export type HookMemEvent = (uc: Uc, type: number, address: bigint, size: number, value: bigint) => boolean;
/** Return true if handled (RIP moved past it), false to stop with UC_ERR_INSN_INVALID. */
export type HookInsnInvalid = (uc: Uc) => boolean;
export type HookInsnIn = (uc: Uc, port: number, size: number) => number;
export type HookInsnOut = (uc: Uc, port: number, size: number, value: number) => void;
export type HookInsnSyscall = (uc: Uc) => void;
/** Return true to skip Unicorn's own CPUID emulation (write EAX..EDX yourself). */
export type HookInsnCpuid = (uc: Uc) => boolean;

type MemEventType =
  | typeof C.UC_HOOK_MEM_READ_UNMAPPED
  | typeof C.UC_HOOK_MEM_WRITE_UNMAPPED
  | typeof C.UC_HOOK_MEM_FETCH_UNMAPPED
  | typeof C.UC_HOOK_MEM_READ_PROT
  | typeof C.UC_HOOK_MEM_WRITE_PROT
  | typeof C.UC_HOOK_MEM_FETCH_PROT
  | typeof C.UC_HOOK_MEM_UNMAPPED
  | typeof C.UC_HOOK_MEM_PROT
  | typeof C.UC_HOOK_MEM_READ_INVALID
  | typeof C.UC_HOOK_MEM_WRITE_INVALID
  | typeof C.UC_HOOK_MEM_FETCH_INVALID
  | typeof C.UC_HOOK_MEM_INVALID;
type MemValidType =
  | typeof C.UC_HOOK_MEM_READ
  | typeof C.UC_HOOK_MEM_WRITE
  | typeof C.UC_HOOK_MEM_FETCH
  | typeof C.UC_HOOK_MEM_READ_AFTER
  | typeof C.UC_HOOK_MEM_VALID;

/** A registered hook; pass to Uc.hookDel. */
export class UcHook {
  /** @internal */
  constructor(
    readonly id: bigint,
    readonly type: number,
    /** koffi trampoline of a JS hook, released on hookDel/close. */
    readonly registered: IKoffiRegisteredCallback | null,
    /** user_data of a native hook: C keeps its address, we keep it alive. */
    readonly keepAlive: unknown,
  ) {}
}

/** A uc_context (CPU state snapshot, ~5.5 KB on x86-64). Freed by contextFree or by close of its engine. */
export class UcContext {
  /** @internal uc_context address; 0 once freed. */
  constructor(public ptr: number) {}
  get freed(): boolean {
    return this.ptr === 0;
  }
}

/**
 * Native id and value arrays for one register set, built once and reused:
 * uc_reg_{read,write}_batch take `int *regs, void **vals`, and vals[i] must
 * point at value slot i.
 */
class RegBatch {
  readonly count: number;
  /** koffi.alloc blocks, freed when the batch is collected. */
  readonly memory: NativePointer[];
  readonly regsPtr: number;
  readonly valsPtr: number;
  readonly slots: BigUint64Array;

  constructor(ids: ArrayLike<number>) {
    const n = (this.count = ids.length);
    const regs = koffi.alloc('int', Math.max(n, 1));
    const vals = koffi.alloc('void *', Math.max(n, 1));
    const slots = koffi.alloc('uint64_t', Math.max(n, 1));
    this.memory = [regs, vals, slots];
    this.regsPtr = addr(regs);
    this.valsPtr = addr(vals);
    new Int32Array(koffi.view(regs, 4 * n)).set(Array.from(ids));
    this.slots = new BigUint64Array(koffi.view(slots, 8 * n));
    const valsView = new BigUint64Array(koffi.view(vals, 8 * n));
    const base = koffi.address(slots);
    for (let i = 0; i < n; i++) valsView[i] = base + BigInt(8 * i);
  }
}

// Batches are keyed by the identity of the ids array, so callers should keep
// one Int32Array per register set. Native memory goes when the key does.
const batches = new WeakMap<object, RegBatch>();
const batchMemory = new FinalizationRegistry<NativePointer[]>((ptrs) => ptrs.forEach((p) => koffi.free(p)));

function batchFor(ids: Int32Array | number[]): RegBatch {
  let b = batches.get(ids);
  if (b === undefined || b.count !== ids.length) {
    b = new RegBatch(ids);
    batches.set(ids, b);
    batchMemory.register(b, b.memory);
  }
  return b;
}

// ---------------------------------------------------------------------------
// The engine

const HOOK_ALL_BEGIN = 1n; // begin > end: the hook covers every address
const HOOK_ALL_END = 0n;

export class Uc {
  /** uc_engine address; 0 once closed. */
  private handle: number;
  /** Buffers mapped with memMapPtr: the engine points into them until uc_close. */
  private readonly backings: Buffer[] = [];
  private readonly hooks = new Set<UcHook>();
  private readonly contexts = new Set<UcContext>();
  /** First exception thrown by a JS hook during the current emuStart. */
  private hookFailed = false;
  private hookError: unknown = undefined;
  /** Last invalid access seen by the internal fault hook (see open()). */
  private faultType = 0;
  private faultAddress = 0n;
  /** uc_emu_start nesting depth: trampolines of hooks deleted meanwhile are released after it returns. */
  private running = 0;
  private readonly unregisterLater: IKoffiRegisteredCallback[] = [];

  private constructor(handle: number) {
    this.handle = handle;
  }

  static open(arch: number = C.UC_ARCH_X86, mode: number = C.UC_MODE_64): Uc {
    const out: NativePointer[] = [null];
    check(uc_open(arch, mode, out) as number, 'uc_open', [arch, mode]);
    const uc = new Uc(addr(out[0]));
    // uc_emu_start only returns an error code; Unicorn keeps the faulting
    // address to itself. A fault hook that records it and declines (returns
    // false, exactly as if absent; later hooks still run) lets emuStart
    // report it. Valid accesses never reach it: Unicorn calls these hooks
    // only when an access misses every mapping or violates its protection.
    // (2.0.1 ignores x86 guest page tables, virtual == physical, so this is
    // the address the code used.)
    uc.hookAdd(C.UC_HOOK_MEM_INVALID, (_uc, type, address) => {
      uc.faultType = type;
      uc.faultAddress = address;
      return false;
    });
    return uc;
  }

  get closed(): boolean {
    return this.handle === 0;
  }

  /** The uc_engine address, for native code that wants it (pass as uintptr_t). */
  get engine(): number {
    return this.h();
  }

  private h(): number {
    if (this.handle === 0) throw new Error('Uc: engine is closed');
    return this.handle;
  }

  /** Idempotent. Frees the engine, its hooks' trampolines and its contexts, then drops the backings. */
  close(): void {
    if (this.handle === 0) return;
    if (this.running) throw new Error('Uc.close: called from a hook; stop the emulation first');
    const rc = uc_close(this.handle) as number;
    this.handle = 0;
    for (const hook of this.hooks) if (hook.registered) koffi.unregister(hook.registered);
    this.hooks.clear();
    for (const ctx of this.contexts) {
      uc_context_free(ctx.ptr);
      ctx.ptr = 0;
    }
    this.contexts.clear();
    this.backings.length = 0;
    check(rc, 'uc_close');
  }

  // --- memory ------------------------------------------------------------

  memMap(address: bigint, size: number, perms: number = C.UC_PROT_ALL): void {
    check(uc_mem_map(this.h(), address, size, perms) as number, 'uc_mem_map', [address, size], address);
  }

  /**
   * Maps host memory: several engines may map the same Buffer and then share
   * it. The Buffer must be off the V8 heap (any Buffer of 4 KiB or more is)
   * and stays referenced by this Uc until close(); dropping it earlier would
   * leave Unicorn pointing at freed memory.
   */
  memMapPtr(address: bigint, size: number, perms: number, backing: Buffer): void {
    if (backing.byteLength < size) throw new RangeError(`memMapPtr: backing has ${backing.byteLength} bytes, need ${size}`);
    check(uc_mem_map_ptr(this.h(), address, size, perms, backing) as number, 'uc_mem_map_ptr', [address, size], address);
    this.backings.push(backing);
  }

  memUnmap(address: bigint, size: number): void {
    check(uc_mem_unmap(this.h(), address, size) as number, 'uc_mem_unmap', [address, size], address);
  }

  memProtect(address: bigint, size: number, perms: number): void {
    check(uc_mem_protect(this.h(), address, size, perms) as number, 'uc_mem_protect', [address, size], address);
  }

  memRead(address: bigint, length: number): Buffer {
    const out = Buffer.alloc(length);
    this.memReadInto(address, out);
    return out;
  }

  /** Small transfers go through native scratch memory: cheaper than handing koffi a Buffer. */
  memReadInto(address: bigint, out: Uint8Array): void {
    const n = out.byteLength;
    const rc = (
      n <= SCRATCH_BYTES ? uc_mem_read_scratch(this.h(), address, scratchPtr, n) : uc_mem_read(this.h(), address, out, n)
    ) as number;
    check(rc, 'uc_mem_read', [address, n], address);
    if (n <= SCRATCH_BYTES) for (let i = 0; i < n; i++) out[i] = scratchBytes[i];
  }

  /** Does not invalidate translated code: after writing code call tbRemoveCache on every engine. */
  memWrite(address: bigint, bytes: Uint8Array): void {
    const n = bytes.byteLength;
    if (n <= SCRATCH_BYTES) scratchBytes.set(bytes);
    const rc = (
      n <= SCRATCH_BYTES ? uc_mem_write_scratch(this.h(), address, scratchPtr, n) : uc_mem_write(this.h(), address, bytes, n)
    ) as number;
    check(rc, 'uc_mem_write', [address, n], address);
  }

  // --- registers -----------------------------------------------------------

  /**
   * Registers up to 64 bits. Unicorn stores only the register's own width
   * (2 bytes for segment selectors, 4 for EAX...), so the slot is zeroed first.
   */
  regRead(id: number): bigint {
    scratch64[0] = 0n;
    check(uc_reg_read(this.h(), id, scratchPtr) as number, 'uc_reg_read', [id]);
    return scratch64[0];
  }

  regWrite(id: number, value: bigint): void {
    scratch64[0] = value;
    check(uc_reg_write(this.h(), id, scratchPtr) as number, 'uc_reg_write', [id]);
  }

  /** Wider registers (XMM: 16 bytes, ST: 10...): raw little-endian bytes, up to 64. */
  regReadRaw(id: number, out: Uint8Array): void {
    if (out.byteLength > SCRATCH_BYTES) throw new RangeError('regReadRaw: at most 64 bytes');
    scratchBytes.fill(0);
    check(uc_reg_read(this.h(), id, scratchPtr) as number, 'uc_reg_read', [id]);
    out.set(scratchBytes.subarray(0, out.byteLength));
  }

  regWriteRaw(id: number, bytes: Uint8Array): void {
    if (bytes.byteLength > SCRATCH_BYTES) throw new RangeError('regWriteRaw: at most 64 bytes');
    scratchBytes.fill(0);
    scratchBytes.set(bytes);
    check(uc_reg_write(this.h(), id, scratchPtr) as number, 'uc_reg_write', [id]);
  }

  /**
   * Reads registers of up to 64 bits each into out[0..ids.length). The native
   * id/pointer arrays are built on first use of an `ids` object and reused,
   * so keep one ids array per register set (and do not change its contents);
   * the call then allocates nothing.
   */
  regReadBatch(ids: Int32Array | number[], out: BigUint64Array): void {
    const b = batchFor(ids);
    b.slots.fill(0n);
    check(uc_reg_read_batch(this.h(), b.regsPtr, b.valsPtr, b.count) as number, 'uc_reg_read_batch');
    out.set(b.slots);
  }

  regWriteBatch(ids: Int32Array | number[], values: BigUint64Array): void {
    const b = batchFor(ids);
    if (values.length < b.count) throw new RangeError(`regWriteBatch: ${values.length} values for ${b.count} registers`);
    b.slots.set(values.length === b.count ? values : values.subarray(0, b.count));
    check(uc_reg_write_batch(this.h(), b.regsPtr, b.valsPtr, b.count) as number, 'uc_reg_write_batch');
  }

  /** GDTR, IDTR, LDTR, TR as struct uc_x86_mmr. */
  regReadMmr(id: number): X86Mmr {
    scratchBytes.fill(0, 0, C.UC_X86_MMR_SIZE);
    check(uc_reg_read(this.h(), id, scratchPtr) as number, 'uc_reg_read', [id]);
    return {
      selector: scratchView.getUint16(C.UC_X86_MMR_SELECTOR, true),
      base: scratchView.getBigUint64(C.UC_X86_MMR_BASE, true),
      limit: scratchView.getUint32(C.UC_X86_MMR_LIMIT, true),
      flags: scratchView.getUint32(C.UC_X86_MMR_FLAGS, true),
    };
  }

  regWriteMmr(id: number, mmr: X86Mmr): void {
    scratchBytes.fill(0, 0, C.UC_X86_MMR_SIZE);
    scratchView.setUint16(C.UC_X86_MMR_SELECTOR, mmr.selector, true);
    scratchView.setBigUint64(C.UC_X86_MMR_BASE, mmr.base, true);
    scratchView.setUint32(C.UC_X86_MMR_LIMIT, mmr.limit, true);
    scratchView.setUint32(C.UC_X86_MMR_FLAGS, mmr.flags, true);
    check(uc_reg_write(this.h(), id, scratchPtr) as number, 'uc_reg_write', [id]);
  }

  /** rdmsr through UC_X86_REG_MSR (struct uc_x86_msr). */
  msrRead(msr: number): bigint {
    scratchBytes.fill(0, 0, C.UC_X86_MSR_SIZE);
    scratchView.setUint32(C.UC_X86_MSR_RID, msr, true);
    check(uc_reg_read(this.h(), C.UC_X86_REG_MSR, scratchPtr) as number, 'uc_reg_read(MSR)', [msr]);
    return scratchView.getBigUint64(C.UC_X86_MSR_VALUE, true);
  }

  msrWrite(msr: number, value: bigint): void {
    scratchBytes.fill(0, 0, C.UC_X86_MSR_SIZE);
    scratchView.setUint32(C.UC_X86_MSR_RID, msr, true);
    scratchView.setBigUint64(C.UC_X86_MSR_VALUE, value, true);
    check(uc_reg_write(this.h(), C.UC_X86_REG_MSR, scratchPtr) as number, 'uc_reg_write(MSR)', [msr]);
  }

  // --- running -------------------------------------------------------------

  /**
   * Runs from begin until RIP == until, a stop, hlt, or an error. Rethrows the
   * first exception a JS hook threw during the run (the hook wrapper recorded
   * it and called uc_emu_stop). Fault errors carry the faulting address.
   *
   * Do not end quanta with `timeout` (a timer thread calls uc_emu_stop, which
   * corrupts state on 2.0.1); use a block hook that stops after a budget.
   * `count` works but installs a per-instruction hook (slow).
   */
  emuStart(begin: bigint, until: bigint, timeout = 0, count = 0): void {
    const h = this.h();
    this.runNative(() => uc_emu_start(h, begin, until, timeout, count) as number, [begin, until]);
  }

  /**
   * Runs native code that calls uc_emu_start on this engine (a run loop in C) and returns its
   * uc_err: the same bookkeeping and errors as emuStart (a JS hook's exception is rethrown, a
   * fault carries its address). `args` name the run in the error.
   */
  runNative(run: () => number, args: readonly bigint[] = []): void {
    this.faultType = 0;
    this.running++;
    let rc: number;
    try {
      rc = run();
    } finally {
      if (--this.running === 0 && this.unregisterLater.length) for (const r of this.unregisterLater.splice(0)) koffi.unregister(r);
    }
    if (this.hookFailed) {
      const err = this.hookError;
      this.hookFailed = false;
      this.hookError = undefined;
      throw err;
    }
    if (rc !== C.UC_ERR_OK) {
      const fault = FAULT_ERR[this.faultType];
      throw new UnicornError('uc_emu_start', rc, args, fault === rc ? this.faultAddress : undefined);
    }
  }

  /**
   * Asks the running emulation to stop; only from a hook on this thread.
   * Measured on 2.0.1: from a code hook the hooked instruction does not run,
   * from a block hook the block does not run (RIP stays at it); from an
   * interrupt hook RIP is after the `int n`. Writing RIP in the same hook
   * loses the stop (execution goes on at the new RIP).
   */
  emuStop(): void {
    check(uc_emu_stop(this.h()) as number, 'uc_emu_stop');
  }

  // --- translation cache ----------------------------------------------------

  /**
   * Drops translated blocks overlapping [begin, end). Needed on EVERY engine
   * after code changes: neither uc_mem_write nor another engine's (or the
   * host's) writes invalidate what this engine translated. Guest stores on
   * this engine do (QEMU's self-modifying-code path).
   */
  tbRemoveCache(begin: bigint, end: bigint): void {
    check(uc_ctl(this.h(), C.UC_CTL_TB_REMOVE_CACHE, 'uint64_t', begin, 'uint64_t', end) as number, 'uc_ctl(UC_CTL_TB_REMOVE_CACHE)', [
      begin,
      end,
    ]);
  }

  /**
   * Drops all translated code. Avoid: 2.0.1 memsets the engine's whole 1 GiB
   * code buffer, so the first flush of an engine takes seconds and makes it
   * resident (+1 GiB RSS); later ones ~40 ms, plus retranslating everything.
   */
  tbFlush(): void {
    check(uc_ctl(this.h(), C.UC_CTL_TB_FLUSH) as number, 'uc_ctl(UC_CTL_TB_FLUSH)');
  }

  // --- contexts -------------------------------------------------------------

  contextSize(): number {
    return Number(uc_context_size(this.h()));
  }

  contextAlloc(): UcContext {
    const out: NativePointer[] = [null];
    check(uc_context_alloc(this.h(), out) as number, 'uc_context_alloc');
    const ctx = new UcContext(addr(out[0]));
    this.contexts.add(ctx);
    return ctx;
  }

  contextSave(ctx: UcContext): void {
    check(uc_context_save(this.h(), liveCtx(ctx)) as number, 'uc_context_save');
  }

  contextRestore(ctx: UcContext): void {
    check(uc_context_restore(this.h(), liveCtx(ctx)) as number, 'uc_context_restore');
  }

  /** Idempotent. */
  contextFree(ctx: UcContext): void {
    if (ctx.ptr === 0) return;
    const rc = uc_context_free(ctx.ptr) as number;
    ctx.ptr = 0;
    this.contexts.delete(ctx);
    check(rc, 'uc_context_free');
  }

  // --- hooks ----------------------------------------------------------------

  /**
   * Adds a JS hook. The body runs inside a wrapper: an exception is recorded,
   * uc_emu_stop is called and the hook returns a neutral value (false / 0);
   * emuStart then rethrows the exception. (A hook that throws into koffi is
   * otherwise silently skipped for the rest of the run.)
   * begin > end (the default) means every address.
   */
  hookAdd(type: typeof C.UC_HOOK_INTR, cb: HookIntr, begin?: bigint, end?: bigint): UcHook;
  hookAdd(type: typeof C.UC_HOOK_CODE | typeof C.UC_HOOK_BLOCK, cb: HookCode, begin?: bigint, end?: bigint): UcHook;
  hookAdd(type: MemEventType, cb: HookMemEvent, begin?: bigint, end?: bigint): UcHook;
  hookAdd(type: MemValidType, cb: HookMem, begin?: bigint, end?: bigint): UcHook;
  hookAdd(type: typeof C.UC_HOOK_INSN_INVALID, cb: HookInsnInvalid, begin?: bigint, end?: bigint): UcHook;
  hookAdd(type: typeof C.UC_HOOK_INSN, cb: HookInsnIn, begin: bigint, end: bigint, insn: typeof C.UC_X86_INS_IN): UcHook;
  hookAdd(type: typeof C.UC_HOOK_INSN, cb: HookInsnOut, begin: bigint, end: bigint, insn: typeof C.UC_X86_INS_OUT): UcHook;
  hookAdd(
    type: typeof C.UC_HOOK_INSN,
    cb: HookInsnSyscall,
    begin: bigint,
    end: bigint,
    insn: typeof C.UC_X86_INS_SYSCALL | typeof C.UC_X86_INS_SYSENTER,
  ): UcHook;
  hookAdd(type: typeof C.UC_HOOK_INSN, cb: HookInsnCpuid, begin: bigint, end: bigint, insn: typeof C.UC_X86_INS_CPUID): UcHook;
  hookAdd(
    type: number,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each overload above types its callback
    cb: (...args: any[]) => unknown,
    begin: bigint = HOOK_ALL_BEGIN,
    end: bigint = HOOK_ALL_END,
    insn?: number,
  ): UcHook {
    const h = this.h();
    const fail = (e: unknown): void => {
      if (!this.hookFailed) {
        this.hookFailed = true;
        this.hookError = e;
      }
      uc_emu_stop(h);
    };
    let proto: IKoffiCType;
    let fn: (...args: never[]) => unknown;
    if (type === C.UC_HOOK_INTR) {
      proto = cb_hookintr;
      fn = (_u: unknown, intno: number) => {
        try {
          cb(this, intno);
        } catch (e) {
          fail(e);
        }
      };
    } else if (type === C.UC_HOOK_CODE || type === C.UC_HOOK_BLOCK) {
      proto = cb_hookcode;
      fn = (_u: unknown, address: number | bigint, size: number) => {
        try {
          cb(this, big(address), size);
        } catch (e) {
          fail(e);
        }
      };
    } else if ((type & ~C.UC_HOOK_MEM_INVALID) === 0 && type !== 0) {
      proto = cb_eventmem;
      fn = (_u: unknown, t: number, address: number | bigint, size: number, value: number | bigint) => {
        try {
          return cb(this, t, big(address), size, big(value)) === true;
        } catch (e) {
          fail(e);
          return false;
        }
      };
    } else if ((type & ~(C.UC_HOOK_MEM_VALID | C.UC_HOOK_MEM_READ_AFTER)) === 0 && type !== 0) {
      proto = cb_hookmem;
      fn = (_u: unknown, t: number, address: number | bigint, size: number, value: number | bigint) => {
        try {
          cb(this, t, big(address), size, big(value));
        } catch (e) {
          fail(e);
        }
      };
    } else if (type === C.UC_HOOK_INSN_INVALID) {
      proto = cb_insn_invalid;
      fn = () => {
        try {
          return cb(this) === true;
        } catch (e) {
          fail(e);
          return false;
        }
      };
    } else if (type === C.UC_HOOK_INSN && insn === C.UC_X86_INS_IN) {
      proto = cb_insn_in;
      fn = (_u: unknown, port: number, size: number) => {
        try {
          return (cb(this, port, size) as number) >>> 0;
        } catch (e) {
          fail(e);
          return 0;
        }
      };
    } else if (type === C.UC_HOOK_INSN && insn === C.UC_X86_INS_OUT) {
      proto = cb_insn_out;
      fn = (_u: unknown, port: number, size: number, value: number) => {
        try {
          cb(this, port, size, value);
        } catch (e) {
          fail(e);
        }
      };
    } else if (type === C.UC_HOOK_INSN && (insn === C.UC_X86_INS_SYSCALL || insn === C.UC_X86_INS_SYSENTER)) {
      proto = cb_insn_syscall;
      fn = () => {
        try {
          cb(this);
        } catch (e) {
          fail(e);
        }
      };
    } else if (type === C.UC_HOOK_INSN && insn === C.UC_X86_INS_CPUID) {
      proto = cb_insn_cpuid;
      fn = () => {
        try {
          return cb(this) === true ? 1 : 0;
        } catch (e) {
          fail(e);
          return 0;
        }
      };
    } else {
      throw new TypeError(`Uc.hookAdd: unsupported hook type ${hex(type)}${insn === undefined ? '' : ` insn ${insn}`}`);
    }
    const registered = koffi.register(fn, koffi.pointer(proto));
    try {
      return this.addHook(type, registered, null, begin, end, insn, registered);
    } catch (e) {
      koffi.unregister(registered);
      throw e;
    }
  }

  /**
   * Adds a C function (e.g. from libklpemu.so) as a hook. userData is passed
   * to it verbatim and kept referenced until hookDel/close, because C holds
   * its address (use an off-heap Buffer: allocate it from an ArrayBuffer).
   */
  hookAddNative(
    type: number,
    fn: NativePointer,
    userData: Buffer | NativePointer | null,
    begin: bigint = HOOK_ALL_BEGIN,
    end: bigint = HOOK_ALL_END,
    insn?: number,
  ): UcHook {
    return this.addHook(type, fn, userData, begin, end, insn, null);
  }

  private addHook(
    type: number,
    fn: NativePointer,
    userData: unknown,
    begin: bigint,
    end: bigint,
    insn: number | undefined,
    registered: IKoffiRegisteredCallback | null,
  ): UcHook {
    const h = this.h();
    const rc = (
      insn === undefined
        ? uc_hook_add(h, hookIdOut, type, fn, userData, begin, end)
        : uc_hook_add(h, hookIdOut, type, fn, userData, begin, end, 'int', insn)
    ) as number;
    check(rc, 'uc_hook_add', [type, begin, end]);
    const hook = new UcHook(hookIdOut[0], type, registered, userData);
    this.hooks.add(hook);
    return hook;
  }

  hookDel(hook: UcHook): void {
    if (!this.hooks.has(hook)) return;
    const rc = uc_hook_del(this.h(), hook.id) as number;
    this.hooks.delete(hook);
    check(rc, 'uc_hook_del', [hook.id]);
    // A hook may delete itself (or another) from inside a run; its koffi
    // trampoline may be on the C stack right now, so release it afterwards.
    if (hook.registered) {
      if (this.running) this.unregisterLater.push(hook.registered);
      else koffi.unregister(hook.registered);
    }
  }
}

// UC_MEM_* type reported to the fault hook -> the uc_err uc_emu_start returns for it.
const FAULT_ERR: Record<number, number> = {
  [C.UC_MEM_READ_UNMAPPED]: C.UC_ERR_READ_UNMAPPED,
  [C.UC_MEM_WRITE_UNMAPPED]: C.UC_ERR_WRITE_UNMAPPED,
  [C.UC_MEM_FETCH_UNMAPPED]: C.UC_ERR_FETCH_UNMAPPED,
  [C.UC_MEM_READ_PROT]: C.UC_ERR_READ_PROT,
  [C.UC_MEM_WRITE_PROT]: C.UC_ERR_WRITE_PROT,
  [C.UC_MEM_FETCH_PROT]: C.UC_ERR_FETCH_PROT,
};

function liveCtx(ctx: UcContext): number {
  if (ctx.ptr === 0) throw new Error('UcContext: already freed');
  return ctx.ptr;
}
