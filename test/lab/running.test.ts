// SPDX-License-Identifier: GPL-2.0-or-later
// A lab that keeps running (src/lab/running.ts): the machine goes on between requests, at its
// pace or as fast as the host allows, stops on request, and a session's journal replayed on a
// fresh lab gives the same kernel log bit for bit.
import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { RunningLab, replayJournal } from '../../src/lab/running.ts';
import { applyRequest, ControlServer, type ControlRequest } from '../../src/lab/control.ts';
import { KernelFiles } from '../../src/lab/kernelfs.ts';
import { Kmsg } from '../../src/lab/kmsg.ts';
import type { Lab } from '../../src/lab/selftest.ts';
import { FIXTURES } from '../../src/lab/selftest.ts';
import { connect } from './helpers.ts';

const labs: { close(): unknown }[] = [];
afterEach(async () => {
  for (const l of labs.splice(0).reverse()) await l.close();
});

async function running(opts: Parameters<typeof RunningLab.start>[0]): Promise<RunningLab> {
  const r = await RunningLab.start(opts);
  labs.push(r);
  return r;
}

describe('a running lab', () => {
  it('keeps running while the event loop is free, paced to real time', async () => {
    const r = await running({ cpus: 2, pace: 1 });
    const c0 = r.clockNs;
    const t0 = performance.now();
    await sleep(1500);
    const emulatedMs = (r.clockNs - c0) / 1e6;
    const realMs = performance.now() - t0;
    // a shared host may lag behind the pace, never run ahead of it by more than a slice
    expect(emulatedMs).toBeGreaterThan(realMs * 0.3);
    expect(emulatedMs).toBeLessThan(realMs + 50);
  });

  it('free-running, outruns real time on an idle machine', async () => {
    const r = await running({ cpus: 2 });
    const c0 = r.clockNs;
    await sleep(500);
    expect((r.clockNs - c0) / 1e6).toBeGreaterThan(5 * 500);
  });

  it('keeps a fast pace that the host can keep, through the host stalls of a shared machine', async () => {
    // what this host manages free-running, for the idle workload: the most any pace can get
    const free = await running({ cpus: 2, workload: 'idle' });
    let c0 = free.clockNs;
    let t0 = performance.now();
    await sleep(500);
    const freeRate = (free.clockNs - c0) / 1e6 / (performance.now() - t0);
    await free.close();
    const pace = 100;
    const r = await running({ cpus: 2, workload: 'idle', pace });
    c0 = r.clockNs;
    t0 = performance.now();
    await sleep(1000);
    const rate = (r.clockNs - c0) / 1e6 / (performance.now() - t0);
    // a stall of a few host ms (a timer firing late) is a second of emulated time at this pace:
    // it must be made up for, not dropped, or the pace falls to what one slice per timer runs
    expect(rate).toBeGreaterThan(0.3 * Math.min(pace, freeRate));
    expect(rate).toBeLessThan(pace * 1.05);
  });

  it('stops on request, and refuses requests once stopped', async () => {
    const r = await running({ cpus: 2 });
    await r.submit('hello', (lab) => lab.k.nrCpus);
    expect(await r.stop()).toEqual({ kind: 'request' });
    const at = r.clockNs;
    await sleep(100);
    expect(r.clockNs).toBe(at);
    await expect(r.submit('hello', (lab) => lab.k.nrCpus)).rejects.toThrow(/the lab has stopped/);
  });

  it("replays a session's journal on a fresh lab to the same kernel log", async () => {
    const opts = { cpus: 2, workload: 'default' as const, seed: 7n };
    const r = await running(opts);
    const server = await ControlServer.listen(r);
    labs.push(server);
    const c = await connect(server.path);
    const steps: Record<string, unknown>[] = [
      { op: 'insmod', file: `${FIXTURES}test_klp_livepatch.ko` },
      { op: 'read', path: '/proc/cmdline' },
      { op: 'write', path: '/dev/kmsg', data: 'a line from the host\n' },
      { op: 'write', path: '/sys/kernel/livepatch/test_klp_livepatch/enabled', data: '0\n' },
      { op: 'read', path: '/proc/meminfo' },
    ];
    for (const s of steps) {
      expect((await c.call(s)).ok, JSON.stringify(s)).toBe(true);
      await sleep(30); // the machine runs on between requests, for however long the host gives it
    }
    c.close();
    await r.stop();
    expect(r.journal.map((e) => (e.request as ControlRequest).op)).toEqual(['insmod', 'read', 'write', 'write', 'read']);
    const digest = r.lab.k.log.digest();
    const end = r.clockNs;

    const views = new WeakMap<Lab, { files: KernelFiles; kmsg: Kmsg }>();
    const apply = (lab: Lab, req: ControlRequest) => {
      let v = views.get(lab);
      if (!v) views.set(lab, (v = { files: new KernelFiles(lab), kmsg: new Kmsg(lab.k) }));
      return applyRequest(lab, v.files, v.kmsg, req);
    };
    const again = await replayJournal(opts, r.journal as { atNs: number; request: ControlRequest }[], apply, end);
    labs.push(again);
    expect(again.k.machine.clockNs).toBe(end);
    expect(again.k.log.digest()).toBe(digest);
    // the same requests four rounds later each: another history (the busy workload never idles,
    // so every round is one quantum of emulated time and the shifted instants are round ends)
    const m = r.lab.k.machine;
    const later = 4 * m.quantum * m.nsPerInsn;
    const shifted = r.journal.map((e) => ({ atNs: e.atNs + later, request: e.request as ControlRequest }));
    const other = await replayJournal(opts, shifted, apply, end + later);
    labs.push(other);
    expect(other.k.log.digest()).not.toBe(digest);
  });
});
