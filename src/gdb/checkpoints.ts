// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The checkpoints of a debugged session (src/gdb/stub.ts), rr's way of going back without
 * replaying the whole run: every `every` instructions the run leaves a checkpoint of the
 * machine between two rounds (src/emu/checkpoint.ts), and a replay of the session that comes to
 * the end of a round with the host's state as it was at a later checkpoint goes on from there
 * instead of emulating up to it.
 *
 * Why not restore a checkpoint and run on from it alone: the host's side of a lab -- the
 * session's own code halfway through its steps, the livepatch core's objects, the generators of
 * the host tasks khostd runs, the modules, ftrace's sites -- is JavaScript objects and call
 * stacks that cannot be copied, and not all of it is in guest memory. So a replay still boots
 * and runs the session's host code from the start, which rebuilds that state exactly; what the
 * checkpoints spare it is the guest's code between two of the host's moments, which is most of
 * a run. The host's state is the same at the end of two rounds when nothing of the host ran in
 * between that could change it: no run() began, no host call, port write or acting round hook
 * (Machine.hostEffects), no host write to guest memory (GuestMemory.hostWrites) and no record
 * drained from the guest's event ring into the log (EventLog.drained; the records not drained
 * yet are in guest memory, which the checkpoint holds).
 */
import type { Kernel } from '../kernel/index.ts';
import { CheckpointStore, type Machine, type MachineCheckpoint } from '../emu/index.ts';

/** A checkpoint of the run and the host's state it may be restored under. */
export interface Mark {
  readonly ck: MachineCheckpoint;
  /** GuestMemory.hostWrites, Machine.hostEffects and EventLog.drained when it was taken. */
  readonly hostWrites: number;
  readonly effects: number;
  readonly drained: number;
}

export class SessionCheckpoints {
  readonly marks: Mark[] = [];
  private readonly store = new CheckpointStore();

  /** `every`: instructions between two checkpoints (0: none). */
  constructor(readonly every: number) {}

  /** Bytes the checkpoints hold. */
  get bytes(): number {
    return this.store.bytes;
  }

  /** At the end of a round: a checkpoint if the run is `every` instructions past the latest one. */
  take(k: Kernel): Mark | undefined {
    const m = k.machine;
    const last = this.marks.at(-1);
    if (this.every <= 0 || (last && m.insns - last.ck.insns < BigInt(this.every))) return undefined;
    const mark = { ck: this.store.take(m), hostWrites: k.mem.hostWrites, effects: m.hostEffects, drained: k.log.drained };
    this.marks.push(mark);
    return mark;
  }

  /**
   * At the end of a round of a replay: restores the latest checkpoint ahead that was taken with
   * the host's state as it is now and that `usable` accepts (it must lie before whatever the
   * replay has to see happen), and returns it; undefined if there is none.
   */
  skip(k: Kernel, usable: (mark: Mark) => boolean): Mark | undefined {
    const m: Machine = k.machine;
    for (let i = this.marks.length - 1; i >= 0; i--) {
      const mark = this.marks[i];
      if (mark.ck.insns <= m.insns || mark.effects < m.hostEffects) return undefined;
      if (mark.effects !== m.hostEffects || mark.hostWrites !== k.mem.hostWrites || mark.drained !== k.log.drained) continue;
      if (!usable(mark)) continue;
      this.store.restore(m, mark.ck);
      return mark;
    }
    return undefined;
  }
}
