// SPDX-License-Identifier: GPL-2.0-or-later
// The ORC unwinder against the emulator's own shadow call stacks: the default workload on 4
// vCPUs, stopped at thousands of pseudo-random points (whole rounds, then every vCPU stepped a
// random number of instructions, some on to an fentry site, entry code, a prologue or an
// epilogue), every task's trace compared with the truth. See src/orc/groundtruth/.
import { afterAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { bootWithGroundTruth, sampleStacks, type SampleStats } from '../../src/orc/groundtruth/sampler.ts';
import { ensureOrc64Fixture } from './fixtures.ts';

const kernels: Kernel[] = [];
afterAll(() => kernels.forEach((k) => k.close()));

async function sample(preempt: 'none' | 'full', samples: number, image?: string): Promise<SampleStats> {
  const { kernel, shadow, code } = await bootWithGroundTruth({ cpus: 4, workload: 'default', seed: 11, preempt, image });
  kernels.push(kernel);
  return sampleStacks(kernel, shadow, code, { samples, seed: 7, warmupMs: 60, smallMax: 4, keepReports: 5 });
}

function expectTruthful(s: SampleStats): void {
  // the reports name the first disagreements, if any
  expect(s.reports).toEqual([]);
  for (const mode of Object.values(s.modes)) {
    expect(mode.mismatches).toBe(0);
    expect(mode.falseVerdicts).toBe(0);
  }
  expect(s.startMismatches).toBe(0);
  expect(s.shadow.stale).toBe(0);
  expect(s.shadow.overflows).toBe(0);
  expect(s.shadow.anomalies).toBeLessThan(s.shadow.events / 100_000);
}

describe("ORC traces vs the emulator's shadow stacks", () => {
  it('non-preemptible kernel: thousands of task stacks, every reliable trace exact', async () => {
    const s = await sample('none', 2000);
    expectTruthful(s);
    expect(s.taskStacks).toBeGreaterThan(30000);
    expect(s.running).toBeGreaterThan(4000);
    expect(s.userMode).toBeGreaterThan(100);
    // tasks were caught on the fentry NOP, in entry code, mid-prologue and mid-epilogue
    for (const [what, n] of Object.entries(s.caught)) expect(n, what).toBeGreaterThan(0);
    expect(s.modes.strict.reliable).toBeGreaterThan(s.taskStacks * 0.9);
    expect(s.modes.small.unreliable['too-many']).toBeGreaterThan(0);
  });

  it('preemptible kernel: interrupt frames mid-stack are unreliable, or followed exactly', async () => {
    const s = await sample('full', 2000);
    expectTruthful(s);
    expect(s.taskStacks).toBeGreaterThan(30000);
    expect(s.caught.irqFrames).toBeGreaterThan(100);
    expect(s.modes.strict.unreliable['kernel-regs']).toBeGreaterThan(100);
    // walking through them (as 6.x kernels do) gives the exact trace every time
    expect(s.modes.follow.reliable).toBe(s.modes.follow.checked);
  });

  it('the 6.4+ ORC layout (objtool 6.12 fixture) unwinds the same way', async () => {
    const f = ensureOrc64Fixture();
    if (!f) throw new Error('the 6.4+ fixture could not be built: see test/orc/fixtures/Makefile');
    const s = await sample('full', 800, f.image);
    expectTruthful(s);
    expect(s.taskStacks).toBeGreaterThan(12000);
    expect(s.modes.follow.reliable).toBe(s.modes.follow.checked);
  });
});
