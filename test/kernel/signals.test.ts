// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The blocked mask and TIF_SIGPENDING as the kernel keeps them: rt_sigprocmask() and
 * rt_sigsuspend() (the sigsuspend workload's waiter blocks SIGUSR1 and waits for it with
 * nothing blocked, its kicker sends one every tick), the saved mask put back on the way out,
 * and recalc_sigpending() after every change: a TIF_SIGPENDING with nothing queued does not
 * survive the next change of the mask, a TIF_NOTIFY_SIGNAL does.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import type { Lab } from '../../src/lab/selftest.ts';
import { cpuCurr, type Task } from '../../src/kernel/index.ts';

const boot = useLab({ cpus: 2, workload: 'sigsuspend', seed: 3 }, { start: false });

const waiter = (lab: Lab) => lab.k.tasks().find((t) => t.comm === 'usigwait')!;
const counter = (lab: Lab, name: string) => lab.k.mem.u64(lab.k.sym(name));
const blocked = (lab: Lab, t: Task) => lab.k.mem.u32(t.address + BigInt(lab.k.layout.offset('task_struct', 'sig_blocked')));
const usr1 = (lab: Lab) => 1 << lab.k.layout.constant('SIGUSR1');

describe('rt_sigprocmask and rt_sigsuspend', () => {
  it('block SIGUSR1 outside the waits, unblock it during them, and every wait ends in its handler with -EINTR', async () => {
    const lab = await boot();
    const { k } = lab;
    k.runFor(50);
    const t = waiter(lab);
    const inUser = () => t.currentOn() >= 0 && (k.machine.cpus[t.currentOn()].registers().cs & 3n) === 3n;
    for (let i = 0; i < 3; i++) {
      expect(k.run({ rounds: 10_000, until: inUser }).untilMet).toBe(true);
      expect(blocked(lab, t)).toBe(usr1(lab));
      expect(k.run({ rounds: 10_000, until: () => t.stateChar === 'S' }).untilMet).toBe(true);
      expect(blocked(lab, t)).toBe(0);
    }
    k.runFor(300);
    const waits = counter(lab, 'sigsusp_waits');
    expect(waits).toBeGreaterThan(20n);
    expect(counter(lab, 'sigsusp_handled') - waits).toBeLessThanOrEqual(1n);
    expect(counter(lab, 'sigsusp_odd')).toBe(0n);
  });

  /**
   * Sets `flag` on the waiter at its next entry into rt_sigsuspend (SIGUSR1 blocked then, its
   * kicker's signal not queued yet), as a sender on another cpu would, and tells what it did
   * until it next went to sleep: how often it entered rt_sigsuspend again (a restart), and
   * whether a signal was delivered meanwhile.
   */
  async function flagAtEntry(flag: string) {
    const lab = await boot();
    const { k } = lab;
    k.runFor(50);
    const t = waiter(lab);
    const m = k.machine;
    const entry = k.sym('do_int80_syscall');
    const nr = BigInt(k.layout.constant('SYS_rt_sigsuspend'));
    const oFlags = t.address + BigInt(k.layout.offset('task_struct', 'thread_info.flags'));
    let from = -1;
    const entries: number[] = [];
    m.addBreakpoint(entry);
    m.onDebugStop = (stop) => {
      if (cpuCurr(k, stop.cpu).address !== t.address || m.cpus[stop.cpu].registers().rax !== nr) return;
      if (from >= 0) entries.push(k.log.cursor());
      else if (counter(lab, 'sigsusp_handled') === counter(lab, 'sigsusp_waits')) {
        from = k.log.cursor();
        k.mem.setU64(oFlags, k.mem.u64(oFlags) | (1n << BigInt(k.layout.constant(flag))));
      }
    };
    try {
      expect(k.run({ rounds: 10_000, until: () => from >= 0 }).untilMet).toBe(true);
      k.run({ rounds: 20 });
    } finally {
      m.removeBreakpoint(entry);
      m.onDebugStop = null;
    }
    const after = k.log.since(from);
    const sleep = after.findIndex((e) => e.type === 'sched_switch' && e.a === t.pid && e.c & k.layout.constant('TASK_INTERRUPTIBLE'));
    expect(sleep).toBeGreaterThanOrEqual(0);
    return {
      lab,
      t,
      restarts: entries.filter((at) => at <= from + sleep).length,
      delivered: after.slice(0, sleep).filter((e) => e.type === 'signal' && e.a === t.pid).length,
      flagAfter: t.testTifFlag(flag),
    };
  }

  it('a TIF_SIGPENDING with nothing queued is cleared as rt_sigsuspend changes the mask: the task sleeps at once', async () => {
    const r = await flagAtEntry('TIF_SIGPENDING');
    // asleep in the very call the flag was set at, as if nothing had been sent
    expect(r).toMatchObject({ restarts: 0, delivered: 0, flagAfter: false });
  });

  it('a TIF_NOTIFY_SIGNAL survives it: the call returns -ERESTARTNOHAND, is restarted, and the program sees nothing', async () => {
    const r = await flagAtEntry('TIF_NOTIFY_SIGNAL');
    // out to the signal path, its mask put back, and in again: no handler, no error
    expect(r).toMatchObject({ restarts: 1, delivered: 0, flagAfter: false });
    expect(counter(r.lab, 'sigsusp_odd')).toBe(0n);
  });
});
