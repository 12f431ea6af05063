// SPDX-License-Identifier: GPL-2.0-or-later
// TS side of libklpemu.so (klpemu.c): loads it, checks the struct klp_cpu_ctl
// layout against the C compiler's, and gives a zero-copy view of one vCPU's
// control block plus the glue that installs the C hooks on an engine.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { UC_HOOK_BLOCK, UC_HOOK_INTR } from '../unicorn-const.ts';
import type { NativePointer, Uc, UcHook } from '../unicorn.ts';

export const KLPEMU_PATH = fileURLToPath(new URL('../../../build/native/libklpemu.so', import.meta.url));

/** stop_reason bits. */
export const KLP_STOP_BUDGET = 1;
export const KLP_STOP_INTR = 2;

/** klp_hook_ptr(which). */
export const KLP_HOOK_BLOCK = 0;
export const KLP_HOOK_INTR = 1;

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
} as const;
export const CTL_SIZE = 72;

interface KlpEmu {
  hookBlock: NativePointer;
  hookIntr: NativePointer;
  setImap: (ctl: Buffer, imap: Uint8Array | null, base: bigint, size: bigint) => void;
  ctlSize: number;
  ctlOffset: (field: number) => number;
}

let loaded: KlpEmu | null = null;

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
  loaded = {
    hookBlock: hookPtr(KLP_HOOK_BLOCK),
    hookIntr: hookPtr(KLP_HOOK_INTR),
    setImap: setImap as KlpEmu['setImap'],
    ctlSize,
    ctlOffset,
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
  private imap: Uint8Array | null = null;

  constructor() {
    klpemu();
    this.buffer = Buffer.from(new ArrayBuffer(CTL_SIZE));
    this.u64 = new BigUint64Array(this.buffer.buffer, this.buffer.byteOffset, CTL_SIZE / 8);
    this.u32 = new Uint32Array(this.buffer.buffer, this.buffer.byteOffset, CTL_SIZE / 4);
    this.stopAt = 0xffff_ffff_ffff_ffffn;
  }

  get insns(): bigint {
    return this.u64[CTL.insns / 8];
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
      this.imap = null;
      return;
    }
    const bits = BigInt(map.byteLength) * 8n;
    const covered = size ?? bits;
    if (covered > bits) throw new RangeError(`setInstructionMap: ${map.byteLength} bytes cover ${bits}, not ${covered}`);
    // Small typed arrays can live on the V8 heap, where they move; touching
    // .buffer makes V8 give them a fixed off-heap backing store for good.
    void map.buffer;
    klpemu().setImap(this.buffer, map, base, covered);
    this.imap = map; // C holds its address now
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

/** An instruction-start bitmap for `size` bytes of code, off the V8 heap. */
export function allocInstructionMap(size: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(Math.ceil(size / 8)));
}

/** Marks an instruction start at `offset` (bytes from the map's base). */
export function markInstruction(map: Uint8Array, offset: number): void {
  map[offset >> 3] |= 1 << (offset & 7);
}
