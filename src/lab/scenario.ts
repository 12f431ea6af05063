// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A scenario: what a livepatch session is made of before any schedule is chosen -- the machine
 * booted (workload, cpus, preemption, quirks) and the steps run on it, in the `livepatch`
 * command's step syntax (`load:NAME`, `insmod:NAME`, `disable:NAME`, `wait:NAME`, `run:MS`, ...).
 * The schedule (seed, quantum, the moments of injected events) is the explorer's, not the
 * scenario's, so one scenario stands for every interleaving of the same session.
 */
import type { LabOptions } from './selftest.ts';

export interface Scenario {
  /** A short name, as `klp-lab explore NAME` takes it. */
  name: string;
  /** One line: what the session does and what it exercises. */
  description: string;
  /** Boot options; the seed and quantum are left to the schedule. */
  boot: Omit<LabOptions, 'seed' | 'quantum'>;
  steps: readonly string[];
}
