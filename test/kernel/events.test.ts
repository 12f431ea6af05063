// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The host's kernel log on long runs: it keeps the most recent entries only (flat memory), its
 * digest still covers every record, its counters never miss a warning, and a reader whose
 * entries were dropped is told so (LogOverrunError) instead of getting fewer lines.
 */
import { describe, expect, it } from 'vitest';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import { LogOverrunError } from '../../src/kernel/events.ts';
import { KernelOops, type Kernel } from '../../src/kernel/kernel.ts';
import { withKernel } from '../helpers.ts';

const CAPACITY = 64;

/** A guest printk() of a warning, as WARN() prints it. */
function guestWarn(k: Kernel, text: string): void {
  const fmt = Buffer.from(`\x014${text}\n\0`, 'latin1');
  const at = k.hostMem.alloc(fmt.length, 16, 'format');
  k.mem.write(at, fmt);
  function* warn(): HostTask<void> {
    yield* callGuest(k.sym('printk'), at);
  }
  k.host.run('warn', warn());
}

describe('kernel log on a long run', () => {
  it('holds at most its capacity, with the digest of an unbounded log', async () => {
    const run = (logCapacity?: number) =>
      withKernel({ cpus: 2, workload: 'default', seed: 4, logCapacity }, (k) => {
        k.runFor(1500);
        const c = k.log.counters();
        return { digest: k.log.digest(), records: c.records, dropped: c.dropped, held: k.log.events.length, bytes: k.log.retainedBytes };
      });
    const small = await run(CAPACITY);
    const big = await run();
    expect(small.records).toBeGreaterThan(10 * CAPACITY);
    expect(small.held).toBe(CAPACITY);
    expect(small.dropped).toBe(small.records - CAPACITY);
    expect(small.bytes).toBeLessThanOrEqual(CAPACITY * 304);
    expect(big.dropped).toBe(0);
    expect(small.digest).toBe(big.digest);
    expect(small.records).toBe(big.records);
  });

  it('counts a WARN that comes after more records than it holds, and the latest entries hold it', async () => {
    await withKernel({ cpus: 2, workload: 'default', seed: 4, logCapacity: CAPACITY }, (k) => {
      k.runFor(1000);
      expect(k.log.counters().dropped).toBeGreaterThan(3 * CAPACITY);
      expect(k.log.counters().warnings).toBe(0);
      const before = k.log.cursor();
      guestWarn(k, 'WARNING: kernel/test.c:1 test_warn');
      const c = k.log.counters();
      expect(c.warnings).toBe(1);
      expect(c.firstWarnings).toHaveLength(1);
      expect(c.firstWarnings[0]).toMatch(/^\[ +\d+\.\d{6}\] WARNING: kernel\/test\.c:1 test_warn$/);
      expect(c.lastWarning).toBe(c.firstWarnings[0]);
      const lines = k.log
        .since(before)
        .filter((e) => e.type === 'printk')
        .map((e) => e.text);
      expect(lines).toContain('WARNING: kernel/test.c:1 test_warn');

      // ... and a run long enough to push the WARN out of the log still counts it
      k.runFor(1000);
      expect(k.log.ofType('printk').some((e) => e.text.startsWith('WARNING:'))).toBe(false);
      expect(k.log.counters().warnings).toBe(1);
      expect(k.log.counters().firstWarnings).toEqual(c.firstWarnings);
    });
  });

  it('tells a reader whose entries were dropped (EPIPE), never returns fewer silently', async () => {
    await withKernel({ cpus: 2, workload: 'default', seed: 4, logCapacity: CAPACITY }, (k) => {
      k.runFor(200);
      const cursor = k.log.cursor();
      k.runFor(1000);
      expect(() => k.log.since(cursor)).toThrow(LogOverrunError);
      expect(() => k.log.since(cursor)).toThrow(/kernel log overrun: entries \d+\.\.\d+ were dropped before they were read/);
      const recent = k.log.cursor() - 10;
      expect(k.log.since(recent)).toHaveLength(10);
    });
  });

  it('counts warnings from the host half of the kernel, and the oops that stops the machine', async () => {
    await withKernel({ cpus: 2, workload: 'null-deref', logCapacity: CAPACITY }, (k) => {
      k.log.hostPrintk(4, 'WARNING: livepatch: host side', k.machine.clockNs);
      expect(() => k.runFor(5000)).toThrow(KernelOops);
      const c = k.log.counters();
      expect([c.warnings, c.oopses, c.panics]).toEqual([1, 1, 0]);
      expect(c.lastWarning).toMatch(/\] WARNING: livepatch: host side$/);
    });
  });
});

describe('the event ring', () => {
  it('waits for a record whose writer took its slot and stopped mid-record, and loses nothing', async () => {
    await withKernel({ cpus: 2, workload: 'default', seed: 4 }, (k) => {
      k.runFor(100);
      const before = k.log.counters().records;
      // as a vCPU whose quantum ended between its xadd and its final store: the slot is taken
      const L = k.layout;
      const ring = k.sym('event_ring');
      const headAt = ring + BigInt(L.offset('lab_event_ring', 'head'));
      const seq = k.mem.u64(headAt) + 1n;
      k.mem.setU64(headAt, seq);
      const slot =
        ring +
        BigInt(L.offset('lab_event_ring', 'ev')) +
        ((seq - 1n) % BigInt(L.constant('LAB_EVENT_RING'))) * BigInt(L.sizeof('lab_event'));
      k.mem.setU64(slot + BigInt(L.offset('lab_event', 'seq')), 0n);
      k.runFor(50);
      // the others wrote after it: none is read before it, none is counted lost
      expect(k.log.counters().records).toBe(before);
      expect(k.log.lost).toBe(0);
      // its writer goes on and publishes it: it and everything after it come, in order
      k.mem.write(slot + BigInt(L.offset('lab_event', 'type')), Uint8Array.of(L.constant('EV_WORKLOAD'), 0));
      k.mem.setU64(slot + BigInt(L.offset('lab_event', 'a')), 4242n);
      k.mem.setU64(slot + BigInt(L.offset('lab_event', 'seq')), seq);
      k.runFor(10);
      const c = k.log.counters();
      expect(c.lostInGuest).toBe(0);
      expect(c.records).toBeGreaterThan(before + 1);
      const events = k.log.events;
      expect(events[before]).toMatchObject({ seq: Number(seq), type: 'workload', a: 4242 });
      for (let i = before + 1; i < events.length; i++) expect(events[i].seq).toBe(events[i - 1].seq + 1);
    });
  });
});
