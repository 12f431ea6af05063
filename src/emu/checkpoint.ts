// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoints of a machine between two rounds, as rr keeps them to go back in a recorded run:
 * all the state the machine's continuation depends on, restorable into the machine it was taken
 * from or into another one booted the same way (a replay of the same session).
 *
 *   guest RAM     by pages: the store keeps a shadow of RAM as it was at the latest checkpoint
 *                 and, per page, the contents it had at each checkpoint where it had changed
 *                 (and at the first checkpoint, once it changes). Unicorn 2.0.1 tracks no dirty
 *                 pages of memory mapped with uc_mem_map_ptr and the host kernel has no
 *                 soft-dirty bits, so the pages are compared, natively (klp_ram_delta): a few
 *                 ms for 64 MiB, and a checkpoint costs the pages that changed since the last.
 *   the vCPUs     each engine's uc_context as bytes (the whole register file: general,
 *                 segment, control and system registers, MSRs, x87/SSE), the value fields of
 *                 its native control block (instruction and block counts, pending interrupts,
 *                 halted, the interrupt window, delivered counts), online and dead.
 *   the schedule  emulated time, rounds, the next timer tick, the vCPU order and its PRNG.
 *
 * Not in a checkpoint: the host's own state (what the host code built: modules, ftrace sites,
 * the livepatch core's objects, the event log's records). A checkpoint is restored only where
 * that state is the same as when it was taken -- same Machine.hostEffects, same host writes --
 * which the caller checks (src/gdb/stub.ts). The native control block's debugger fields
 * (break_at, resume_at, the watch hit) are the debugger's, not the machine's, and stay.
 */
import { contextBytes, CTL, ramDelta } from './native/index.ts';
import type { Machine, MachineSchedule } from './machine.ts';
import type { UcContext } from './unicorn.ts';
import type { Vcpu } from './cpu.ts';

const PAGE = 4096;

/** The byte ranges of struct klp_cpu_ctl that are the cpu's state (not pointers, set-up or the debugger's). */
const CTL_STATE: readonly [number, number][] = [
  [CTL.insns, CTL.imap], // insns, blocks, stop_at, unmapped, last_block_end, stop_reason, intno
  [CTL.rip, CTL.softVectors], // rip, run_err, deliver_err
  [CTL.delivered, CTL.emap], // delivered[], pending[], halted, irq_window
  [CTL.inRun, CTL.inRun + 4],
  [CTL.cont, CTL.cont + 4],
  [CTL.stopPc, CTL.stopPc + 8],
];

interface CpuState {
  context: Buffer;
  ctl: Buffer;
  online: boolean;
  dead: boolean;
}

export interface MachineCheckpoint {
  /** Its place in the store (checkpoints are taken in the order of the run). */
  readonly index: number;
  readonly rounds: number;
  /** Every vCPU's instruction count. */
  readonly counts: readonly bigint[];
  readonly insns: bigint;
  readonly schedule: MachineSchedule;
  readonly cpus: readonly CpuState[];
}

/** One page's contents as of a checkpoint (-1: as of the first). */
interface PageVersion {
  at: number;
  data: Buffer;
}

export class CheckpointStore {
  readonly checkpoints: MachineCheckpoint[] = [];
  /** RAM as it was at the latest checkpoint. */
  private shadow: Buffer | null = null;
  private readonly versions = new Map<number, PageVersion[]>();
  private scratch = new Uint32Array(0);
  private readonly contexts = new WeakMap<Vcpu, UcContext>();
  /** Bytes the store holds (pages and vCPU states), for the reports. */
  bytes = 0;

  get latest(): MachineCheckpoint | undefined {
    return this.checkpoints.at(-1);
  }

  /** Takes a checkpoint of m between two rounds. Its RAM must have gone through the latest one. */
  take(m: Machine): MachineCheckpoint {
    const ram = m.mem.buffer;
    const index = this.checkpoints.length;
    if (!this.shadow) {
      this.shadow = Buffer.alloc(ram.length);
      ram.copy(this.shadow);
      this.scratch = new Uint32Array(ram.length / PAGE);
    } else {
      const shadow = this.shadow;
      const n = ramDelta(ram, shadow, PAGE, this.scratch, false);
      for (let i = 0; i < n; i++) {
        const p = this.scratch[i];
        const off = p * PAGE;
        let list = this.versions.get(p);
        if (!list) {
          // the page as the first checkpoint had it, which the shadow still holds
          this.versions.set(p, (list = [{ at: -1, data: Buffer.from(shadow.subarray(off, off + PAGE)) }]));
          this.bytes += PAGE;
        }
        list.push({ at: index, data: Buffer.from(ram.subarray(off, off + PAGE)) });
        ram.copy(shadow, off, off, off + PAGE);
        this.bytes += PAGE;
      }
    }
    const cpus = m.cpus.map((c) => {
      const ctx = this.context(c);
      c.uc.contextSave(ctx);
      const context = Buffer.alloc(c.uc.contextSize());
      contextBytes(ctx.ptr, context, false);
      this.bytes += context.length + c.ctl.buffer.length;
      return { context, ctl: Buffer.from(c.ctl.buffer), online: c.online, dead: c.dead };
    });
    const ck: MachineCheckpoint = {
      index,
      rounds: m.rounds,
      counts: m.cpus.map((c) => c.insns),
      insns: m.insns,
      schedule: m.schedule,
      cpus,
    };
    this.checkpoints.push(ck);
    return ck;
  }

  /**
   * Puts m in the state of checkpoint ck, between two rounds. m is this store's machine or one
   * booted the same way whose RAM went through the same states up to some checkpoint at or
   * before ck: the pages that differ are those that differ from the shadow now, and those that
   * changed after ck.
   */
  restore(m: Machine, ck: MachineCheckpoint): void {
    const shadow = this.shadow;
    if (!shadow || this.checkpoints[ck.index] !== ck) throw new Error('restore of a checkpoint this store did not take');
    const ram = m.mem.buffer;
    const pages = new Set<number>();
    const n = ramDelta(ram, shadow, PAGE, this.scratch, false);
    for (let i = 0; i < n; i++) pages.add(this.scratch[i]);
    for (const [p, list] of this.versions) if (list[list.length - 1].at > ck.index) pages.add(p);
    for (const p of [...pages].sort((a, b) => a - b)) {
      const off = p * PAGE;
      const from = this.pageAt(p, ck.index) ?? shadow.subarray(off, off + PAGE);
      from.copy(ram, off);
    }
    // the engines translated code from what RAM held: drop what they translated of these pages
    for (const [lo, hi] of runs(pages))
      for (const c of m.cpus) c.uc.tbRemoveCache(m.mem.base + BigInt(lo * PAGE), m.mem.base + BigInt(hi * PAGE));
    m.cpus.forEach((c, i) => {
      const s = ck.cpus[i];
      const ctx = this.context(c);
      contextBytes(ctx.ptr, s.context, true);
      c.uc.contextRestore(ctx);
      for (const [lo, hi] of CTL_STATE) s.ctl.copy(c.ctl.buffer, lo, lo, hi);
      c.online = s.online;
      c.dead = s.dead;
    });
    m.schedule = ck.schedule;
  }

  /** Page p as of checkpoint `at`, or undefined if it never changed after the first. */
  private pageAt(p: number, at: number): Buffer | undefined {
    const list = this.versions.get(p);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (list[i].at <= at) return list[i].data;
    return undefined;
  }

  /** A uc_context of c's engine to save into and restore from (the checkpoint keeps bytes). */
  private context(c: Vcpu): UcContext {
    let ctx = this.contexts.get(c);
    if (!ctx) this.contexts.set(c, (ctx = c.uc.contextAlloc()));
    return ctx;
  }
}

/** Sorted page numbers as [first, last + 1) runs. */
function runs(pages: Set<number>): [number, number][] {
  const out: [number, number][] = [];
  for (const p of [...pages].sort((a, b) => a - b)) {
    const last = out.at(-1);
    if (last && last[1] === p) last[1] = p + 1;
    else out.push([p, p + 1]);
  }
  return out;
}
