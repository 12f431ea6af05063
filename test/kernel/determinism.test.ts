// SPDX-License-Identifier: GPL-2.0-or-later
// Same image, options and seed: the same event log, bit for bit. Another seed: another interleaving.
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';

async function runOnce(seed: number) {
  return withKernel({ cpus: 4, workload: 'default', seed }, (k) => {
    const r = k.runFor(1200);
    return {
      digest: k.log.digest(),
      insns: r.insns,
      switches: k.log.events.filter((e) => e.type === 'sched_switch').map((e) => `${e.cpu}:${e.a}>${e.b}`),
    };
  });
}

describe('determinism', () => {
  it('replays the same event log for the same seed, and a different one for another seed', async () => {
    const a = await runOnce(7);
    const b = await runOnce(7);
    const c = await runOnce(8);
    expect(a.switches.length).toBeGreaterThan(100);
    expect(b.digest).toBe(a.digest);
    expect(b.insns).toBe(a.insns);
    expect(b.switches).toEqual(a.switches);
    expect(c.digest).not.toBe(a.digest);
    expect(c.switches).not.toEqual(a.switches);
  });
});
