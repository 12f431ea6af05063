// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A retired dynamic trampoline is freed after an RCU-tasks style grace period. With
 * preempt=full a task can be preempted with its stack inside a trampoline; it is still there
 * when its ops is unregistered, so the copy must stay intact until that task has run on and
 * passed a quiescent state of its own (here: cond_resched_tasks_rcu_qs() in the khog loop).
 * Only then does the memory go back, and the ops' after it. An idle task is held to the same
 * rule: it is quiescent at rest in its idle loop, not for being an idle task.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { crunchRounds, u64At } from '../kernel/helpers.ts';
import { orcUnwinder, stackTraceSaveTskReliable } from '../../src/orc/index.ts';
import { Ftrace, ftracePendingCallbacks, ftraceSiteTarget, ftraceTrampolines, unregisterFtraceFunction } from '../../src/ftrace/index.ts';
import { cpuCurr, idleTask, perCpuAddress, type Task } from '../../src/kernel/task.ts';
import { traceWithTestHandler } from './helpers.ts';

describe('dynamic trampoline grace period', () => {
  it('keeps a retired trampoline until a task preempted inside it has passed a quiescent state', async () => {
    await withKernel({ cpus: 2, workload: 'cpu-bound', nrKthreads: 3, preempt: 'full', seed: 5 }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      const free0 = k.hostMem.bytesFree;
      const ops = traceWithTestHandler(ft, 'crunch_step');
      const tramps = ftraceTrampolines(ft);
      const tramp = tramps.at(ftraceSiteTarget(ft, k.sym('crunch_step'))!)!;
      const inTramp = (t: Task) => stackTraceSaveTskReliable(k, t, 100, { kernelRegs: 'follow' }).entries.some((e) => tramp.contains(e));
      const hogs = () => [...k.forEachTask()].filter((t) => t.comm.startsWith('khog/'));
      const preemptedInside = () => hogs().find((t) => !t.onCpu && t.onRq && inTramp(t));
      expect(k.run({ ns: 2e9, until: () => preemptedInside() !== undefined }).untilMet).toBe(true);
      const victim = preemptedInside()!;

      unregisterFtraceFunction(ft, ops);
      expect(tramps.count).toEqual({ live: 0, retired: 1 });
      expect(tramps.holdoutsOf(tramp).map((t) => t.pid)).toContain(victim.pid);
      const qs0 = victim.rcuTasksQs;
      const nvcsw0 = victim.nvcsw;
      const code = Buffer.from(k.mem.bytes(tramp.address, tramp.size));
      expect(ftracePendingCallbacks(ft)).toBeGreaterThan(0); // the ops waits for its trampoline

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
      expect(ftracePendingCallbacks(ft)).toBe(0);
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

  /*
   * Being an idle task is no quiescent state. The firmware runs the idle loop with preemption
   * disabled, but an idle task may still be stopped inside a copy: interrupted while its loop
   * runs a traced function, or preempted there on a kernel that lets interrupts preempt the
   * idle loop (what this firmware did before: brought back here by taking one off the idle
   * tasks' preempt counts). A copy freed under such a task sends it to whatever the memory
   * holds next (an oops at RIP 0). The idle task holds it until it is back at rest in its loop.
   */
  it('keeps a retired trampoline until an idle task preempted inside it is back in its idle loop', async () => {
    // reaching the preemption inside the copy takes a wakeup landing in a short window: a few
    // seeds are tried (the fork workload wakes the most), the first that gets there is checked
    const tried: number[] = [];
    for (const seed of [1, 5, 2, 3, 4, 6]) {
      tried.push(seed);
      const reached = await withKernel({ cpus: 2, workload: 'fork', preempt: 'full', seed, quantum: 500 }, (k) => {
        const ft = new Ftrace(k, orcUnwinder(k));
        k.runFor(50);
        const preemptCount = (t: Task) => t.address + BigInt(k.layout.offset('task_struct', 'preempt_count'));
        const idles = [0, 1].map((c) => idleTask(k, c));
        for (const t of idles) {
          expect(k.mem.s32(preemptCount(t)), `${t}`).toBe(1); // not inside a preempt-off section now
          k.mem.setU32(preemptCount(t), 0);
        }
        const ops = traceWithTestHandler(ft, 'sched_idle_balance');
        const tramps = ftraceTrampolines(ft);
        const tramp = tramps.at(ftraceSiteTarget(ft, k.sym('sched_idle_balance'))!)!;
        const inTramp = (t: Task) => stackTraceSaveTskReliable(k, t, 100, { kernelRegs: 'follow' }).entries.some((e) => tramp.contains(e));
        const preemptedInside = () => idles.find((t) => cpuCurr(k, t.cpu).address !== t.address && inTramp(t));
        if (!k.run({ ns: 3e9, until: () => preemptedInside() !== undefined }).untilMet) return false;
        const victim = preemptedInside()!;

        unregisterFtraceFunction(ft, ops);
        expect(tramps.count).toEqual({ live: 0, retired: 1 });
        expect(tramps.holdoutsOf(tramp).map((t) => t.address)).toContain(victim.address);
        const code = Buffer.from(k.mem.bytes(tramp.address, tramp.size));
        const held = () => tramps.holdoutsOf(tramp).some((t) => t.address === victim.address);
        tramps.poll();
        expect(held(), 'an idle task preempted inside taken as quiescent').toBe(true);
        // round by round: the copy stays intact while the idle task may be in it; it is let go
        // once back at rest in its loop (the workload's CPU-bound kforker, which never reports
        // a quiescent state, keeps the copy itself for longer: it is an ordinary holdout)
        let rounds = 0;
        while (held() && rounds < 200_000) {
          expect(tramps.count.retired).toBe(1);
          expect(Buffer.from(k.mem.bytes(tramp.address, tramp.size)).equals(code)).toBe(true);
          k.run({ rounds: 1 });
          rounds++;
        }
        expect(held()).toBe(false);
        expect(inTramp(victim)).toBe(false);
        expect(k.mem.u64(k.sym('ftrace_test_bad'))).toBe(0n);
        // the machine runs on (an oops would stop it), every cpu taking its ticks
        const irqs = () => [0, 1].map((c) => k.mem.u64(perCpuAddress(k, c) + BigInt(k.layout.offset('pcpu', 'irq_count'))));
        const irqs0 = irqs();
        k.runFor(50);
        irqs().forEach((n, c) => expect(n, `cpu ${c}`).toBeGreaterThan(irqs0[c]));
        expect(k.log.messages().filter((l) => /BUG|WARNING/.test(l))).toEqual([]);
        return true;
      });
      if (reached) return;
    }
    throw new Error(`no idle task was preempted inside the trampoline within 3 emulated s (seeds ${tried.join(', ')})`);
  }, 120_000);

  it('lets a retired trampoline go once the idle tasks rest in their loop', async () => {
    // the idle loop's own traced function: the idle tasks run through the copy all the time
    await withKernel({ cpus: 4, workload: 'idle', preempt: 'full', seed: 5 }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      const free0 = k.hostMem.bytesFree;
      const ops = traceWithTestHandler(ft, 'sched_idle_balance');
      k.runFor(20);
      expect(k.mem.u64(k.sym('ftrace_test_hits'))).toBeGreaterThan(0n);
      unregisterFtraceFunction(ft, ops);
      const tramps = ftraceTrampolines(ft);
      // every idle task halts in its loop within a tick or so
      k.runFor(30);
      expect(tramps.count).toEqual({ live: 0, retired: 0 });
      expect(ftracePendingCallbacks(ft)).toBe(0);
      expect(k.hostMem.bytesFree).toBe(free0);
    });
  });
});
