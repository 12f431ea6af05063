// SPDX-License-Identifier: GPL-2.0-or-later
// CPU hotplug: a cpu taken down loses its tasks and timers to the cpus that stay, leaves the
// online mask and parks with its vCPU halted; brought up, it boots again through _start and
// its idle loop takes work again. Bad requests are refused before any guest code runs.
import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import { CpuHotplugError, cpuDown, cpuHotplugState, cpuUp } from '../../src/kernel/hotplug.ts';
import { cpuCurr, cpuOnline, forEachTask, perCpuAddress, rqNrQueued } from '../../src/kernel/task.ts';
import { withKernel } from '../helpers.ts';
import { u64At } from './helpers.ts';

function printk(k: Kernel): string[] {
  return k.log.events.filter((e) => e.type === 'printk').map((e) => e.text);
}

/** rq->timers of a cpu is an empty list. */
function noTimers(k: Kernel, cpu: number): boolean {
  const head = perCpuAddress(k, cpu) + BigInt(k.layout.offset('pcpu', 'rq') + k.layout.offset('rq', 'timers'));
  return k.mem.u64(head + BigInt(k.layout.offset('list_head', 'next'))) === head;
}

function symbolOf(k: Kernel, address: bigint): string | undefined {
  return k.image.symbolAt(address)?.name;
}

describe('cpu hotplug', () => {
  it('takes a cpu down: tasks and timers move away, the vCPU halts; up again it runs tasks', async () => {
    await withKernel({ cpus: 4, workload: 'default', seed: 3 }, (k) => {
      k.runFor(300);
      const vcpu = k.machine.cpus[2];
      const evDown = k.log.cursor();
      cpuDown(k, 2);

      expect(cpuOnline(k, 2)).toBe(false);
      expect(cpuHotplugState(k, 2)).toBe('dead');
      expect(vcpu.online).toBe(false);
      expect(vcpu.dead).toBe(true);
      // the idle task parked itself: it is current there, in cpu_play_dead(), with irqs off
      expect(cpuCurr(k, 2).isIdle).toBe(true);
      expect(symbolOf(k, vcpu.rip)).toBe('cpu_play_dead');
      expect(rqNrQueued(k, 2)).toBe(0);
      expect(noTimers(k, 2)).toBe(true);
      for (const t of forEachTask(k)) if (t.cpu === 2) expect(t.onRq, `${t} runnable on the dead cpu`).toBe(false);
      const since = k.log.since(evDown);
      const moved = since.filter((e) => e.type === 'sched_migrate' && e.b === 2).map((e) => e.a);
      expect(moved.length).toBeGreaterThan(0);
      expect(since.some((e) => e.type === 'cpu_dead' && e.cpu === 2)).toBe(true);
      expect(printk(k)).toContain('smpboot: CPU 2 is now offline');

      const insns = k.machine.cpus.map((c) => c.insns);
      const ticks = u64At(k, 'crunch_progress', 0) + u64At(k, 'crunch_progress', 1);
      const deep = u64At(k, 'deep_stats', 5);
      const evRun = k.log.cursor();
      k.runFor(400);
      expect(vcpu.insns).toBe(insns[2]);
      for (const c of [0, 1, 3]) expect(k.machine.cpus[c].insns).toBeGreaterThan(insns[c]);
      // the work goes on elsewhere: hogs crunch, sleepers whose timers were on cpu 2 wake up
      expect(u64At(k, 'crunch_progress', 0) + u64At(k, 'crunch_progress', 1)).toBeGreaterThan(ticks);
      expect(u64At(k, 'deep_stats', 5)).toBeGreaterThan(deep);
      const ran = k.log.since(evRun).filter((e) => e.type === 'sched_switch');
      expect(ran.some((e) => e.cpu === 2)).toBe(false);
      // (a moved task may already have run, even exited, while cpu_down() finished)
      const ranSinceDown = k.log.since(evDown).filter((e) => e.type === 'sched_switch' && e.cpu !== 2);
      for (const pid of moved)
        expect(
          ranSinceDown.some((e) => e.b === pid),
          `pid ${pid} ran again`,
        ).toBe(true);

      cpuUp(k, 2);
      expect(cpuOnline(k, 2)).toBe(true);
      expect(cpuHotplugState(k, 2)).toBe('up');
      expect(vcpu.dead).toBe(false);
      expect(printk(k).slice(-2)).toEqual(['smpboot: Booting CPU 2', 'smp: CPU2 is up']);
      const evUp = k.log.cursor();
      k.runFor(400);
      expect(vcpu.insns).toBeGreaterThan(insns[2]);
      // its idle loop pulls work again
      expect(k.log.since(evUp).some((e) => e.type === 'sched_switch' && e.cpu === 2 && e.b !== 0)).toBe(true);
    });
  });

  it('takes down the cpu the controlling task runs on', async () => {
    await withKernel({ cpus: 3, workload: 'idle', seed: 5 }, (k) => {
      k.runFor(100);
      const hostd = k.mem.u64(k.sym('hostd_task'));
      // move khostd to cpu 2 and let it run anywhere again: it stays there until it sleeps
      function* toCpu2(): HostTask<void> {
        yield* callGuest(k.sym('set_cpus_allowed_ptr'), hostd, 2n);
        yield* callGuest(k.sym('set_cpus_allowed_ptr'), hostd, BigInt.asUintN(64, -1n));
      }
      k.host.run('taskset khostd', toCpu2());
      const khostd = [...forEachTask(k)].find((t) => t.address === hostd)!;
      expect(khostd.cpu).toBe(2);
      cpuDown(k, 2);
      expect(cpuHotplugState(k, 2)).toBe('dead');
      expect(khostd.cpu).not.toBe(2);
      cpuUp(k, 2);
      cpuDown(k, 1);
      cpuDown(k, 2);
      expect([0, 1, 2].map((c) => cpuOnline(k, c))).toEqual([true, false, false]);
      cpuUp(k, 1);
      cpuUp(k, 2);
      expect([0, 1, 2].map((c) => cpuHotplugState(k, c))).toEqual(['up', 'up', 'up']);
    });
  });

  it('a task pinned to the cpu loses its affinity and runs on', async () => {
    await withKernel({ cpus: 4, workload: 'probe', seed: 2 }, (k) => {
      k.runFor(100);
      const probe = [...forEachTask(k)].find((t) => t.comm === 'kprobe/1')!;
      cpuDown(k, 1);
      expect(printk(k)).toContain(`process ${probe.pid} (kprobe/1) no longer affine to cpu1`);
      const calls = u64At(k, 'probe_calls', 1);
      k.runFor(100);
      expect(u64At(k, 'probe_calls', 1)).toBeGreaterThan(calls);
      expect(probe.cpu).not.toBe(1);
    });
  });

  it('replays the same log for the same seed and hotplug operations', async () => {
    const once = () =>
      withKernel({ cpus: 4, workload: 'default', seed: 11 }, (k) => {
        k.runFor(150);
        cpuDown(k, 3);
        k.runFor(100);
        cpuDown(k, 1);
        k.runFor(100);
        cpuUp(k, 3);
        k.runFor(100);
        return k.log.digest();
      });
    expect(await once()).toBe(await once());
  });

  it('refuses bad requests with a typed error and changes nothing', async () => {
    await withKernel({ cpus: 4, workload: 'idle', seed: 1 }, (k) => {
      k.runFor(50);
      cpuDown(k, 3);
      const ram = Buffer.from(k.mem.buffer);
      const cases: Array<[() => void, string, RegExp]> = [
        [() => cpuDown(k, 0), 'EPERM', /cpu 0: the boot cpu cannot be taken offline/],
        [() => cpuDown(k, 4), 'EINVAL', /cpu 4: no such cpu: the machine has cpus 0\.\.3/],
        [() => cpuDown(k, -1), 'EINVAL', /no such cpu/],
        [() => cpuDown(k, 1.5), 'EINVAL', /no such cpu/],
        [() => cpuUp(k, 64), 'EINVAL', /no such cpu/],
        [() => cpuDown(k, 3), 'EINVAL', /cpu 3: already offline/],
        [() => cpuUp(k, 1), 'EINVAL', /cpu 1: already online/],
        [() => cpuUp(k, 0), 'EINVAL', /cpu 0: already online/],
      ];
      for (const [call, errno, message] of cases) {
        let err: unknown;
        try {
          call();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(CpuHotplugError);
        expect((err as CpuHotplugError).errno).toBe(errno);
        expect((err as Error).message).toMatch(message);
        expect(Buffer.compare(k.mem.buffer, ram)).toBe(0);
      }
    });
  });
});
