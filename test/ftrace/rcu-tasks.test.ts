// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A retired dynamic trampoline is freed after an RCU-tasks style grace period. With
 * preempt=full a task can be preempted with its stack inside a trampoline; it is still there
 * when its ops is unregistered, so the copy must stay intact until that task has run on and
 * passed a quiescent state of its own (here: cond_resched_tasks_rcu_qs() in the khog loop).
 * Only then does the memory go back, and the ops' after it.
 */
import { describe, expect, it } from 'vitest';
import { crunchRounds, withKernel, u64At } from '../kernel/helpers.ts';
import { stackTraceSaveTskReliable } from '../../src/orc/index.ts';
import { ftracePendingCallbacks, ftraceSiteTarget, ftraceTrampolines, unregisterFtraceFunction } from '../../src/ftrace/index.ts';
import type { Task } from '../../src/kernel/task.ts';
import { traceWithTestHandler } from './helpers.ts';

describe('dynamic trampoline grace period', () => {
  it('keeps a retired trampoline until a task preempted inside it has passed a quiescent state', async () => {
    await withKernel({ cpus: 2, workload: 'cpu-bound', nrKthreads: 3, preempt: 'full', seed: 5 }, (k) => {
      k.runFor(20);
      const free0 = k.hostMem.bytesFree;
      const ops = traceWithTestHandler(k, 'crunch_step');
      const tramps = ftraceTrampolines(k);
      const tramp = tramps.at(ftraceSiteTarget(k, k.sym('crunch_step'))!)!;
      const inTramp = (t: Task) => stackTraceSaveTskReliable(k, t, 100, { kernelRegs: 'follow' }).entries.some((e) => tramp.contains(e));
      const hogs = () => [...k.forEachTask()].filter((t) => t.comm.startsWith('khog/'));
      const preemptedInside = () => hogs().find((t) => !t.onCpu && t.onRq && inTramp(t));
      expect(k.run({ ns: 2e9, until: () => preemptedInside() !== undefined }).untilMet).toBe(true);
      const victim = preemptedInside()!;

      unregisterFtraceFunction(k, ops);
      expect(tramps.count).toEqual({ live: 0, retired: 1 });
      expect(tramps.holdoutsOf(tramp).map((t) => t.pid)).toContain(victim.pid);
      const qs0 = victim.rcuTasksQs;
      const nvcsw0 = victim.nvcsw;
      const code = Buffer.from(k.mem.bytes(tramp.address, tramp.size));
      expect(ftracePendingCallbacks(k)).toBeGreaterThan(0); // the ops waits for its trampoline

      // still preempted inside: no grace period can end
      tramps.poll();
      expect(tramps.count.retired).toBe(1);
      // round by round: the copy stays intact while retired
      let rounds = 0;
      while (tramps.count.retired && rounds < 200_000) {
        expect(Buffer.from(k.mem.bytes(tramp.address, tramp.size)).equals(code)).toBe(true);
        k.run({ rounds: 1 });
        rounds++;
      }
      expect(tramps.count).toEqual({ live: 0, retired: 0 });
      // freed once the victim had run on, out of the copy, and said it was quiescent
      expect(inTramp(victim)).toBe(false);
      expect(victim.rcuTasksQs > qs0 || victim.nvcsw > nvcsw0).toBe(true);
      expect(tramps.at(tramp.address)).toBeUndefined();
      expect(ftracePendingCallbacks(k)).toBe(0);
      expect(k.hostMem.bytesFree).toBe(free0);
      // and it computed right all along: the registers survived the preemption in the copy
      expect(k.mem.u64(k.sym('ftrace_test_bad'))).toBe(0n);
      k.runFor(20);
      for (let id = 0; id < 3; id++) {
        const progress = Number(u64At(k, 'crunch_progress', id));
        expect([crunchRounds(5n, id, progress), crunchRounds(5n, id, progress + 1)], `khog/${id}`).toContain(u64At(k, 'crunch_last', id));
      }
    });
  });
});
