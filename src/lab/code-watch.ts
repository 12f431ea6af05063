// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Watching real execution at a few code addresses, cheaply enough to be on in every run: the
 * native block hook (klpemu.c) tests one bit per translated block it enters, and for a block
 * starting at a watched address writes a hit -- where, which task was current, its patch state,
 * thread flags and pid, and the stack pointer -- into a ring. The host reads the ring whenever
 * it is about to change what the hits mean (before every host call, after every round, and when
 * the ring fills mid-quantum), so every hit is judged against the state it ran under.
 *
 * Only block starts can be watched, which is what function entries are: a body is entered by a
 * call, or by the ftrace trampoline's iretq, and either ends the block before it.
 */
import { allocInstructionMap, markInstruction, WatchRing } from '../emu/index.ts';
import { type Kernel, perCpuAddress } from '../kernel/index.ts';

/** One execution of a watched address; addresses are RAM offsets (the unwinder's). */
export interface CodeHit {
  at: number;
  /** The task current on the cpu then (a RAM offset), its patch_state, TIF flags and pid. */
  task: number;
  state: number;
  flags: number;
  pid: number;
  /** rsp as the block began: at a function's entry, the slot of its return address. */
  sp: number;
  cpu: number;
}

const RING_CAPACITY = 4096;

export class CodeWatch {
  private readonly map: Uint8Array;
  private readonly ring: WatchRing;
  private readonly watched = new Set<number>();
  private readonly base: bigint;
  /** Times the ring filled mid-quantum and the quantum was stopped to empty it. */
  fills = 0;

  constructor(
    private readonly k: Kernel,
    /** Called with the hits read, in execution order, with every vCPU stopped. */
    private readonly onHits: (hits: readonly CodeHit[]) => void,
  ) {
    const m = k.machine;
    this.base = m.mem.base;
    this.map = allocInstructionMap(m.mem.size);
    this.ring = new WatchRing(RING_CAPACITY, this.base);
    const L = k.layout;
    const words: [number, number, number] = [
      L.offset('task_struct', 'patch_state'),
      L.offset('task_struct', 'thread_info.flags'),
      L.offset('task_struct', 'pid'),
    ];
    const current = L.offset('pcpu', 'current_task');
    m.cpus.forEach((c, i) => c.ctl.setWatch(this.map, this.ring.buffer, perCpuAddress(k, i) + BigInt(current), words, i));
    m.onWatchFull = () => {
      m.noteHostEffect();
      this.fills++;
      this.read();
    };
  }

  /** Watches exactly these RAM offsets from now on. */
  set(offsets: Iterable<number>): void {
    const next = new Set(offsets);
    for (const o of this.watched) if (!next.has(o)) this.map[o >> 3] &= ~(1 << (o & 7));
    for (const o of next) if (!this.watched.has(o)) markInstruction(this.map, o);
    this.watched.clear();
    for (const o of next) this.watched.add(o);
  }

  get size(): number {
    return this.watched.size;
  }

  /** Reads and empties the ring. */
  read(): void {
    const r = this.ring;
    const n = r.length;
    if (!n) return;
    const hits: CodeHit[] = new Array(n);
    for (let i = 0; i < n; i++)
      hits[i] = {
        at: r.addr(i),
        task: r.task(i),
        state: r.word(i, 0) | 0,
        flags: r.word(i, 1),
        pid: r.word(i, 2) | 0,
        sp: r.rsp(i),
        cpu: r.cpu(i),
      };
    r.clear();
    this.onHits(hits);
  }

  /** Stops watching: the hooks write nothing any more. */
  close(): void {
    this.read();
    for (const c of this.k.machine.cpus) c.ctl.setWatch(null, null);
    this.k.machine.onWatchFull = null;
  }

  /** The guest address of a RAM offset. */
  address(offset: number): bigint {
    return this.base + BigInt(offset);
  }
}
