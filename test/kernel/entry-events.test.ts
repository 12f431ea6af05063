// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The entry records a traced session has in its log (BootOptions.traceEntry): each interrupt's
 * entry and exit on its cpu, each system call's entry in its task, each return to user mode
 * (which ends the call) -- and none at all in a session that is not traced.
 */
import { describe, expect, it } from 'vitest';
import { perCpuAddress, type Kernel } from '../../src/kernel/index.ts';
import { withKernel } from '../helpers.ts';

const ENTRY_TYPES = ['irq_entry', 'irq_exit', 'sys_enter', 'user_enter'];

const irqCount = (k: Kernel, cpu: number) => Number(k.mem.u64(perCpuAddress(k, cpu) + BigInt(k.layout.offset('pcpu', 'irq_count'))));

describe('the entry records', () => {
  it('are not written unless the session is traced', async () => {
    const types = await withKernel({ cpus: 2, workload: 'default', seed: 3 }, (k) => {
      k.runFor(500);
      return new Set(k.log.events.map((e) => e.type));
    });
    expect(types).toContain('sched_switch');
    for (const t of ENTRY_TYPES) expect(types.has(t), t).toBe(false);
  });

  it('pair every interrupt and system call, and count what the guest counts', async () => {
    await withKernel({ cpus: 2, workload: 'default', seed: 3, traceEntry: true }, (k) => {
      k.runFor(1000);
      const events = k.log.events;
      expect(k.log.counters().dropped).toBe(0);
      const kthreads = new Set(
        k
          .tasks()
          .filter((t) => t.isKthread || t.isIdle)
          .map((t) => t.pid),
      );
      const users = new Set(
        k
          .tasks()
          .filter((t) => !t.isKthread && !t.isIdle)
          .map((t) => t.pid),
      );
      for (let cpu = 0; cpu < 2; cpu++) {
        // an interrupt leaves before the next one enters (handlers run with irqs off)
        let inIrq: number | null = null;
        let entries = 0;
        for (const e of events.filter((x) => x.cpu === cpu)) {
          if (e.type === 'irq_entry') {
            expect(inIrq, `cpu${cpu} seq ${e.seq}`).toBe(null);
            inIrq = e.a;
            entries++;
          } else if (e.type === 'irq_exit') {
            expect(e.a, `cpu${cpu} seq ${e.seq}`).toBe(inIrq);
            inIrq = null;
          }
        }
        expect(entries, `cpu${cpu}`).toBe(irqCount(k, cpu));
        expect(entries, `cpu${cpu}`).toBeGreaterThan(50); // 100 Hz for a second
      }
      // a task enters the kernel from user mode only: each system call or interrupt from user
      // mode comes after its return to user mode, which comes once per entry
      const inUser = new Map<number, boolean>();
      let calls = 0;
      for (const e of events) {
        if (e.type === 'sys_enter' || (e.type === 'irq_entry' && e.b === 1)) {
          if (inUser.has(e.pid)) expect(inUser.get(e.pid), `pid ${e.pid} seq ${e.seq}`).toBe(true);
          inUser.set(e.pid, false);
          if (e.type === 'sys_enter') calls++;
        } else if (e.type === 'user_enter') {
          expect(inUser.get(e.pid), `pid ${e.pid} seq ${e.seq}`).not.toBe(true);
          expect(kthreads.has(e.pid), `pid ${e.pid}`).toBe(false);
          inUser.set(e.pid, true);
        }
      }
      expect(calls).toBeGreaterThan(100);
      // only user tasks make them, and only they are interrupted in user mode
      const fromUser = events.filter((e) => e.type === 'sys_enter' || (e.type === 'irq_entry' && e.b === 1));
      expect(fromUser.filter((e) => kthreads.has(e.pid))).toEqual([]);
      expect(fromUser.some((e) => users.has(e.pid))).toBe(true);
    });
  });
});
