// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * TS side of liborcgt.so (src/orc/native/orcgt.c): installs the ground-truth code hook on every
 * vCPU of a freshly booted kernel, reads the shadow call stacks it keeps, and steps single vCPUs
 * an exact number of instructions (the hook counts and stops them), handling what klp_run would
 * on the way: `int $0x80` is delivered, hlt halts the vCPU. The library is built on first use
 * when missing or older than its source.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import type { Kernel } from '../../kernel/index.ts';
import { UC_HOOK_BLOCK, KLP_STOP_INTR, type UcHook } from '../../emu/index.ts';
import type { CodeClasses } from './code.ts';

const SRC_DIR = fileURLToPath(new URL('../native/', import.meta.url));
export const ORCGT_PATH = fileURLToPath(new URL('../../../build/native/liborcgt.so', import.meta.url));

/** struct gt_shared / gt_cpu word indices (all 64-bit). */
const G = {
  ramBase: 1,
  ramSize: 2,
  codeBase: 3,
  codeSize: 4,
  stackShift: 7,
  nstacks: 8,
  maxdepth: 9,
  anomalies: 12,
  overflows: 13,
  events: 14,
  lastAnomaly: 15,
};
const G_SIZE = 136;
const C = { countdown: 1, executed: 2, stopMask: 3, extra: 4, stopped: 5, stopAddress: 6, partial: 7, prevEnd: 8, prevSp: 9 };
const C_SIZE = 80;

/** Shadow entry kinds. */
export const ENT_CALL = 1;
export const ENT_IRQ_KERNEL = 2;
export const ENT_IRQ_USER = 3;

interface OrcGt {
  hook: unknown;
  init: (g: Buffer, ram: Buffer, cls: Uint8Array, ilen: Uint8Array, endcls: Uint8Array, depth: Uint32Array, ent: Uint32Array) => void;
  cpuInit: (c: Buffer, g: Buffer) => void;
  sync: (uc: number, c: Buffer) => void;
}

let lib: OrcGt | null = null;

function load(): OrcGt {
  if (lib) return lib;
  const src = SRC_DIR + 'orcgt.c';
  if (!existsSync(ORCGT_PATH) || statSync(ORCGT_PATH).mtimeMs < statSync(src).mtimeMs)
    execFileSync('make', ['-s', '-C', SRC_DIR], { stdio: ['ignore', 'ignore', 'inherit'] });
  const l = koffi.load(ORCGT_PATH);
  const sizes = l.func('uint32_t gt_sizes(int which)') as (w: number) => number;
  if (sizes(0) !== G_SIZE || sizes(1) !== C_SIZE)
    throw new Error(`liborcgt: struct sizes ${sizes(0)}/${sizes(1)}, TS expects ${G_SIZE}/${C_SIZE}: rebuild src/orc/native`);
  lib = {
    hook: (l.func('void *gt_hook_ptr(void)') as () => unknown)(),
    init: l.func('void gt_init(void *g, void *ram, void *cls, void *ilen, void *endcls, void *depth, void *ent)') as OrcGt['init'],
    cpuInit: l.func('void gt_cpu_init(void *c, void *g)') as OrcGt['cpuInit'],
    sync: l.func('void gt_sync(uintptr_t uc, void *c)') as OrcGt['sync'],
  };
  return lib;
}

function offHeap(bytes: number): Buffer {
  return Buffer.from(new ArrayBuffer(bytes));
}

/** One shadow entry, innermost first when listed. */
export interface ShadowEntry {
  /** RAM offset of the stack slot: the return address, or the interrupt frame. */
  slot: number;
  /** RAM offset of the return address, or of the interrupted ip. */
  value: number;
  kind: number;
}

export class ShadowStacks {
  readonly depth: Uint32Array;
  readonly ent: Uint32Array;
  readonly maxDepth: number;
  readonly stackShift: number;
  private readonly g: Buffer;
  private readonly gw: BigUint64Array;
  private readonly cpus: Buffer[];
  private readonly cpuWords: BigInt64Array[];
  private readonly hooks: UcHook[] = [];
  // the hook holds pointers into these: keep them referenced for as long as the engines live
  private readonly keep: unknown[];

  /** Installs the hook on every vCPU; call before the kernel runs its first instruction. */
  constructor(
    readonly kernel: Kernel,
    readonly code: CodeClasses,
    maxDepth = 96,
  ) {
    const gt = load();
    const m = kernel.machine;
    const threadSize = kernel.layout.constant('THREAD_SIZE');
    this.stackShift = Math.log2(threadSize);
    if (!Number.isInteger(this.stackShift)) throw new Error(`THREAD_SIZE ${threadSize} is not a power of two`);
    const nstacks = Math.ceil(m.mem.size / threadSize);
    this.maxDepth = maxDepth;
    this.depth = new Uint32Array(new ArrayBuffer(nstacks * 4));
    this.ent = new Uint32Array(new ArrayBuffer(nstacks * maxDepth * 12));
    this.g = offHeap(G_SIZE);
    this.gw = new BigUint64Array(this.g.buffer, this.g.byteOffset, G_SIZE / 8);
    this.gw[G.ramBase] = m.mem.base;
    this.gw[G.ramSize] = BigInt(m.mem.size);
    this.gw[G.codeBase] = code.base;
    this.gw[G.codeSize] = BigInt(code.size);
    this.gw[G.stackShift] = BigInt(this.stackShift);
    this.gw[G.nstacks] = BigInt(nstacks);
    this.gw[G.maxdepth] = BigInt(maxDepth);
    gt.init(this.g, m.mem.buffer, code.cls, code.ilen, code.endcls, this.depth, this.ent);
    this.cpus = m.cpus.map(() => offHeap(C_SIZE));
    this.cpuWords = this.cpus.map((b) => new BigInt64Array(b.buffer, b.byteOffset, C_SIZE / 8));
    this.cpus.forEach((b, i) => {
      gt.cpuInit(b, this.g);
      const uc = m.cpus[i].uc;
      this.hooks.push(uc.hookAddNative(UC_HOOK_BLOCK, gt.hook as never, b, code.base, code.base + BigInt(code.size) - 1n));
    });
    this.keep = [code.cls, code.ilen, code.endcls, m.mem.buffer];
  }

  get anomalies(): number {
    return Number(this.gw[G.anomalies]);
  }
  get overflows(): number {
    return Number(this.gw[G.overflows]);
  }
  get events(): number {
    return Number(this.gw[G.events]);
  }
  /** Address of the instruction that found the last anomaly. */
  get lastAnomaly(): bigint {
    return this.gw[G.lastAnomaly];
  }

  /** Records interrupt frames the host pushed on vCPUs stopped at a gate's first instruction. */
  sync(): void {
    const gt = load();
    this.kernel.machine.cpus.forEach((c, i) => gt.sync(c.uc.engine, this.cpus[i]));
  }

  /** Index of the shadow stack an address (RAM offset) belongs to. */
  stackIndex(off: number): number {
    return off >>> this.stackShift;
  }

  /** Live entries of a stack at or above `minSlot`, innermost first. */
  entries(stackIndex: number, minSlot: number): ShadowEntry[] {
    const out: ShadowEntry[] = [];
    const e = this.ent;
    const basei = stackIndex * this.maxDepth * 3;
    for (let d = this.depth[stackIndex] - 1; d >= 0; d--) {
      const slot = e[basei + d * 3];
      if (slot < minSlot) continue;
      out.push({ slot, value: e[basei + d * 3 + 1], kind: e[basei + d * 3 + 2] });
    }
    return out;
  }

  /** Entries of a stack below `minSlot` (should be none: a frame left without a return). */
  stale(stackIndex: number, minSlot: number): number {
    let n = 0;
    const basei = stackIndex * this.maxDepth * 3;
    for (let d = 0; d < this.depth[stackIndex]; d++) if (this.ent[basei + d * 3] < minSlot) n++;
    return n;
  }

  /**
   * Runs one vCPU alone for `count` instructions (then, with a mask, on until an instruction of
   * one of those classes, at most `extra` more), delivering `int $0x80` and halting at hlt as the
   * machine's own loop would. Returns the instructions executed.
   *
   * The hook stops before the block that holds the target instruction; the rest of that block
   * runs with Unicorn's `until`, on a fresh translation that is dropped again afterwards (the
   * translator bakes the stop into the block).
   */
  step(cpu: number, count: number, mask = 0, extra = 0): number {
    const m = this.kernel.machine;
    const c = m.cpus[cpu];
    if (c.dead || c.halted || m.stopped) return 0;
    const w = this.cpuWords[cpu];
    w[C.countdown] = BigInt(count);
    w[C.executed] = 0n;
    w[C.stopMask] = BigInt(mask);
    w[C.extra] = BigInt(extra);
    w[C.stopped] = 0n;
    w[C.partial] = 0n;
    const before = c.ctl.insns;
    c.ctl.stopAt = 0xffff_ffff_ffff_ffffn;
    let partial = 0;
    try {
      for (let guard = 0; guard < 10000; guard++) {
        c.ctl.stopReason = 0;
        c.uc.emuStart(c.rip, 0n);
        if (w[C.stopped]) {
          partial = Number(w[C.partial]);
          if (partial) this.finishBlock(cpu, BigInt.asUintN(64, w[C.stopAddress]), partial);
          break;
        }
        if (m.stopped) break;
        if (c.ctl.stopReason & KLP_STOP_INTR) {
          const v = c.ctl.intno;
          if (v !== 0x80 && v !== 3) break;
          c.deliver(v, true);
          continue;
        }
        const rip = c.rip;
        if (m.mem.contains(rip - 1n) && m.mem.u8(rip - 1n) === 0xf4) c.halted = true;
        break;
      }
    } finally {
      w[C.countdown] = -1n;
    }
    const executed = Number(w[C.executed]) + partial;
    c.ctl.insns = before + BigInt(executed);
    return executed;
  }

  /** Runs the first n instructions of the block at `start` (the hook stopped before it). */
  private finishBlock(cpu: number, start: bigint, n: number): void {
    const c = this.kernel.machine.cpus[cpu];
    let x = start;
    for (let i = 0; i < n; i++) x += BigInt(this.code.ilen[Number(x - this.code.base)]);
    c.uc.tbRemoveCache(start, x + 1n);
    try {
      c.uc.emuStart(start, x);
    } finally {
      c.uc.tbRemoveCache(start, x + 1n);
    }
    if (c.rip !== x) throw new Error(`orcgt: cpu ${cpu} stopped at 0x${c.rip.toString(16)}, not at 0x${x.toString(16)}`);
    // the block ran up to x: what ends there is a plain instruction, nothing for the shadow
    this.cpuWords[cpu][C.prevEnd] = BigInt.asIntN(64, x);
  }

  close(): void {
    const m = this.kernel.machine;
    this.hooks.forEach((h, i) => {
      try {
        m.cpus[i].uc.hookDel(h);
      } catch {
        /* engine already closed */
      }
    });
    this.hooks.length = 0;
    void this.keep;
  }
}
