// SPDX-License-Identifier: GPL-2.0-or-later
// Same firmware, patches, scenario and seed: the same log, bit for bit; another seed, another
// interleaving.
import { describe, expect, it } from 'vitest';
import { withLab } from '../helpers.ts';
import { parseStep, runStep } from '../../src/lab/steps.ts';

function session(seed: number): Promise<{ digest: string; lines: string[] }> {
  return withLab({ cpus: 4, workload: 'default', seed }, (lab) => {
    for (const s of [
      'insmod:test_klp_deep',
      'run:2500',
      'force:test_klp_deep',
      'wait:test_klp_deep',
      'load:test_klp_livepatch',
      'disable:test_klp_livepatch',
    ])
      runStep(lab, parseStep(s));
    return { digest: lab.k.log.digest(), lines: lab.logSinceStart() };
  });
}

describe('livepatch determinism', () => {
  it('replays a transition exactly from its seed', async () => {
    const a = await session(7);
    const b = await session(7);
    const c = await session(8);
    expect(a.lines).toContain("livepatch: 'test_klp_deep': patching complete");
    expect(b.digest).toBe(a.digest);
    expect(b.lines).toEqual(a.lines);
    expect(c.digest).not.toBe(a.digest);
  }, 60_000);
});
