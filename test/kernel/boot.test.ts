// SPDX-License-Identifier: GPL-2.0-or-later
// Booting the real firmware on 1..16 vCPUs: every cpu comes up, idles, runs real tasks; tasks
// sleep and wake, migrate, fork; user tasks cross the system call boundary.
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { switchesOn, u64At } from './helpers.ts';
import { cpuOnline } from '../../src/kernel/task.ts';

describe.each([1, 2, 4, 16])('boot on %i vCPUs, default workload', (cpus) => {
  it('brings every cpu up and runs idle and real tasks on each', async () => {
    await withKernel({ cpus, workload: 'default', nrUser: Math.max(2, cpus / 2) }, (k) => {
      k.runFor(1500);
      const ev = k.log.events;
      expect(k.log.lost).toBe(0);
      const names = new Map(k.tasks().map((t) => [t.pid, t.comm]));

      for (let cpu = 0; cpu < cpus; cpu++) {
        expect(cpuOnline(k, cpu)).toBe(true);
        // the cpu came online in its idle task (pid 0) ...
        expect(ev.some((e) => e.type === 'cpu_online' && e.cpu === cpu && e.pid === 0)).toBe(true);
        // ... and switched to real tasks and back to idle, or stayed busy with real tasks
        const sw = switchesOn(k, cpu);
        expect(
          sw.some((e) => e.b > 0),
          `cpu ${cpu} never ran a real task`,
        ).toBe(true);
      }
      expect(k.machine.cpus.every((c) => c.ctl.unmapped === 0n)).toBe(true);

      // sleeping tasks wake: the deep-chain sleepers were woken and made progress
      const deepPids = [...names].filter(([, c]) => c.startsWith('kdeep/')).map(([p]) => p);
      expect(deepPids).toHaveLength(4);
      for (const pid of deepPids) expect(ev.filter((e) => e.type === 'sched_wakeup' && e.a === pid).length).toBeGreaterThan(3);
      expect(u64At(k, 'deep_stats', 0)).toBeGreaterThan(10n);

      // fork creates runnable children that run and exit
      const forks = ev.filter((e) => e.type === 'fork');
      const children = forks.filter((e) => names.get(e.a) === 'ufork').map((e) => e.b);
      expect(children.length).toBeGreaterThan(5);
      const ran = new Set(ev.filter((e) => e.type === 'sched_switch').map((e) => e.b));
      expect(children.filter((c) => ran.has(c)).length).toBeGreaterThan(children.length - 3);
      expect(ev.filter((e) => e.type === 'exit' && children.includes(e.a)).length).toBeGreaterThan(3);

      // user tasks went through the system call gate, and a signal reached its handler
      const sys = k.layout.constant('SYSCALL_VECTOR');
      expect(k.machine.cpus.reduce((n, c) => n + c.delivered(sys), 0)).toBeGreaterThan(1000);
      expect(ev.some((e) => e.type === 'signal' && e.c === 1)).toBe(true);
      expect(k.log.messages().some((m) => m.includes('ucatch') && m.includes('caught SIGUSR1'))).toBe(true);

      // the scheduler places and moves tasks between cpus
      if (cpus > 1) expect(ev.filter((e) => e.type === 'sched_migrate').length).toBeGreaterThan(0);
    });
  });
});

describe('idle machine', () => {
  it('halts idle vCPUs and fast-forwards time to the next tick', async () => {
    await withKernel({ cpus: 4, workload: 'idle' }, (k) => {
      const r = k.runFor(2000);
      // 2 s at 1 MHz would be 8M instructions on 4 busy cpus; idle cpus only wake for ticks
      expect(r.insns).toBeLessThan(2_000_000n);
      expect(k.machine.cpus.filter((c) => c.halted).length).toBeGreaterThanOrEqual(3);
      expect(k.machine.cpus.every((c) => c.delivered(k.layout.constant('TIMER_VECTOR')) >= 150)).toBe(true);
    });
  });
});
