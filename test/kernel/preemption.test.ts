// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Timer preemption: with preempt=full a timer interrupt switches a CPU-bound kthread out in the
 * middle of its loop (its stack holds the interrupt frame with a rip inside crunch), and it
 * resumes with every register intact: the value it computes matches the host's recomputation.
 * With preempt=none the same kthreads only leave the cpu through cond_resched().
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { crunchRounds, u64At } from './helpers.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { Task } from '../../src/kernel/task.ts';

/** iret frames (rip, cs, rflags, rsp, ss) of kernel mode on a switched-out task's stack. */
function kernelIretFrames(k: Kernel, t: Task): bigint[] {
  const kcs = BigInt(k.layout.constant('__KERNEL_CS'));
  const out: bigint[] = [];
  for (let a = t.threadSp; a + 40n <= t.stackEnd; a += 8n) {
    if (k.mem.u64(a + 8n) === kcs && k.mem.u64(a + 16n) & 0x200n && k.mem.u64(a + 24n) > t.stack && k.mem.u64(a + 24n) <= t.stackEnd)
      out.push(k.mem.u64(a));
  }
  return out;
}

function inFunction(k: Kernel, ip: bigint, names: string[]): boolean {
  const s = k.image.symbolAt(ip);
  return !!s && names.includes(s.name);
}

describe.each(['full', 'none'] as const)('preempt=%s, three CPU-bound kthreads on two vCPUs', (preempt) => {
  it(preempt === 'full' ? 'interrupts them mid-function and they resume correctly' : 'switches them only in cond_resched', async () => {
    await withKernel({ cpus: 2, workload: 'cpu-bound', nrKthreads: 3, preempt, seed: 3 }, (k) => {
      const seed = 3n;
      let midFunction = 0;
      for (let i = 0; i < 40; i++) {
        k.runFor(25);
        for (const t of k.tasks()) {
          if (!t.comm.startsWith('khog/') || t.currentOn() >= 0) continue;
          const frames = kernelIretFrames(k, t);
          if (preempt === 'none') expect(frames, `${t} was preempted by an interrupt`).toEqual([]);
          if (frames.some((ip) => inFunction(k, ip, ['crunch', 'crunch_step']))) midFunction++;
        }
      }
      if (preempt === 'full') expect(midFunction).toBeGreaterThan(5);
      for (let id = 0; id < 3; id++) {
        const progress = Number(u64At(k, 'crunch_progress', id));
        const last = u64At(k, 'crunch_last', id);
        expect(progress).toBeGreaterThan(20);
        // crunch_last is stored just before crunch_progress moves on
        expect([crunchRounds(seed, id, progress), crunchRounds(seed, id, progress + 1)]).toContain(last);
      }
      const hogs = k.tasks().filter((t) => t.comm.startsWith('khog/'));
      expect(hogs.every((t) => t.nivcsw > 3n)).toBe(true);
    });
  });
});
