// SPDX-License-Identifier: GPL-2.0-or-later
// Corrupted stacks: random words, frames that loop back, saved stack pointers outside the
// stack. The unwinder must always come back (no hang, no exception) and never call such a
// stack reliable.
import { describe, expect, it } from 'vitest';
import { useFileKernel } from '../helpers.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { allTasks, type Task } from '../../src/kernel/task.ts';
import { Prng } from '../../src/emu/prng.ts';
import { orcUnwinder, type OrcUnwinder, type UnwindOptions } from '../../src/orc/unwind.ts';

let k: Kernel;
let u: OrcUnwinder;
let sleepers: Task[];
const modes: UnwindOptions[] = [{ kernelRegs: 'unreliable' }, { kernelRegs: 'follow' }];

useFileKernel(
  { cpus: 4, workload: 'default', seed: 5 },
  (booted) => {
    k = booted;
    k.runFor(300);
    u = orcUnwinder(k);
    sleepers = allTasks(k).filter((t) => u.runningOn(Number(t.address - k.mem.base)) < 0);
    expect(sleepers.length).toBeGreaterThan(8);
  },
  { unwinder: false },
);

/**
 * Unwinds the task with its stack and thread.sp corrupted, then puts them back; the reasons,
 * strict then follow. `lucky`: random words may by chance form a walk the kernel's rules accept
 * (a return address landing in an end-of-stack region such as ret_from_fork's kthread tail ends
 * the walk there, in Linux's unwinder as in ours); such outcomes are counted instead.
 */
function corrupted(t: Task, corrupt: (lo: bigint, hi: bigint, spAt: bigint) => void, lucky?: { n: number }): string[] {
  const reasons: string[] = [];
  const lo = t.stack;
  const hi = t.stackEnd;
  const spAt = t.address + BigInt(k.layout.offset('task_struct', 'thread.sp'));
  const saved = Buffer.from(k.mem.bytes(lo, Number(hi - lo)));
  const savedSp = k.mem.u64(spAt);
  try {
    corrupt(lo, hi, spAt);
    for (const opts of modes) {
      // it comes back (a hang would stop the test here); at most 100 entries, never more
      const r = u.trace(t, 100, opts);
      expect(r.entries.length).toBeLessThanOrEqual(100);
      if (r.reliable && lucky) lucky.n++;
      else expect(r.reliable, `${t.comm}: ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`).toBe(false);
      if (!r.reliable) reasons.push(r.reason);
    }
  } finally {
    k.mem.write(lo, saved);
    k.mem.setU64(spAt, savedSp);
  }
  return reasons;
}

const rand64 = (rng: Prng) => (BigInt(rng.next()) << 32n) | BigInt(rng.next());

describe('corrupted stacks', () => {
  it('random words, over the whole stack or part of the live frames', () => {
    const rng = new Prng(1);
    const text = [k.image.textStart, k.image.textEnd];
    const reasons = new Set<string>();
    const lucky = { n: 0 };
    for (let trial = 0; trial < 3000; trial++) {
      const t = sleepers[rng.below(sleepers.length)];
      corrupted(
        t,
        (lo, hi) => {
          const sp = k.mem.u64(t.address + BigInt(k.layout.offset('task_struct', 'thread.sp')));
          // from at most the return address of the switch frame: corruption past it may leave a
          // task that never ran (frame, then pt_regs) untouched where the unwinder reads
          const frameWords = k.layout.offset('inactive_task_frame', 'ret_addr') / 8;
          const from = trial % 2 ? lo : sp + 8n * BigInt(rng.below(frameWords + 1));
          for (let a = from; a + 8n <= hi; a += 8n) {
            // a mix of noise, text addresses (so some walks go on for a while) and stack addresses
            const kind = rng.below(4);
            const v =
              kind === 0
                ? rand64(rng)
                : kind === 1
                  ? text[0] + BigInt(rng.below(Number(text[1] - text[0])))
                  : kind === 2
                    ? lo + BigInt(rng.below(Number(hi - lo)))
                    : 0n;
            k.mem.setU64(a, v);
          }
        },
        lucky,
      );
      const r = u.trace(t);
      reasons.add(r.reliable ? 'reliable' : r.reason);
    }
    expect(reasons.has('reliable')).toBe(true); // restored stacks are fine again
    // of 6000 unwinds of random stacks, the accidental end-of-stack walks stay a rare handful
    expect(lucky.n).toBeLessThan(6);
  });

  it('frames that loop: a register frame pointing back at itself or below', () => {
    const rng = new Prng(2);
    // common_return's first instruction: a full pt_regs at sp (UNWIND_HINT_REGS)
    const regsIp = k.sym('common_return');
    const off = (m: string) => BigInt(k.layout.offset('pt_regs', m));
    const seen = { strict: new Set<string>(), follow: new Set<string>() };
    for (let trial = 0; trial < 500; trial++) {
      const t = sleepers[rng.below(sleepers.length)];
      const [strict, follow] = corrupted(t, (lo, _hi, spAt) => {
        // a switch frame "returning" into entry code whose saved registers point back at (or
        // just around) themselves
        const frame = lo + 1024n + 8n * BigInt(rng.below(200));
        const fsize = BigInt(k.layout.sizeof('inactive_task_frame'));
        k.mem.setU64(frame + BigInt(k.layout.offset('inactive_task_frame', 'ret_addr')), regsIp);
        const regs = frame + fsize;
        k.mem.setU64(regs + off('ip'), regsIp);
        k.mem.setU64(regs + off('cs'), 0x10n);
        k.mem.setU64(regs + off('sp'), regs + 8n * BigInt(rng.below(5) - 2));
        k.mem.setU64(spAt, frame);
      });
      seen.strict.add(strict);
      seen.follow.add(follow);
    }
    // an interrupted kernel mid-stack, or a stack running backwards (or not moving)
    expect([...seen.strict].sort()).toEqual(['kernel-regs', 'wrong-direction']);
    expect(seen.follow.has('wrong-direction')).toBe(true);
  });

  it("a saved stack pointer outside the stack, or in another task's", () => {
    const rng = new Prng(3);
    for (let trial = 0; trial < 500; trial++) {
      const t = sleepers[rng.below(sleepers.length)];
      const other = sleepers.find((o) => o !== t)!;
      corrupted(t, (lo, hi, spAt) => {
        const choices = [rand64(rng), lo - 8n * BigInt(1 + rng.below(64)), hi + 8n * BigInt(rng.below(64)), other.threadSp, hi - 8n, 0n];
        k.mem.setU64(spAt, choices[rng.below(choices.length)]);
      });
    }
  });
});
