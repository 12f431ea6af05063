// SPDX-License-Identifier: GPL-2.0-or-later
// A lab that keeps running (src/lab/running.ts): the machine goes on between requests, at its
// pace or as fast as the host allows, stops on request, and a session's journal replayed on a
// fresh lab gives the same kernel log bit for bit.
import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { RunningLab } from '../../src/lab/running.ts';

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

  it('stops on request, and refuses requests once stopped', async () => {
    const r = await running({ cpus: 2 });
    await r.submit('cat', (lab) => lab.cat('lab_cmdline_show'));
    expect(await r.stop()).toEqual({ kind: 'request' });
    const at = r.clockNs;
    await sleep(100);
    expect(r.clockNs).toBe(at);
    await expect(r.submit('cat', (lab) => lab.cat('lab_cmdline_show'))).rejects.toThrow(/the lab has stopped/);
  });
});
