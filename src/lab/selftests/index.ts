// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's livepatch selftests (tools/testing/selftests/livepatch/test-*.sh) as lab
 * scenarios: each test is its script's steps on a freshly booted lab, the checks the script
 * makes on the way (they fail the test, as its die does), and the kernel log lines its
 * check_result expects. `klp-lab selftest` runs them and reports like the scripts; the test
 * suite runs them too.
 */
import type { BootOptions } from '../../kernel/index.ts';
import type { LivepatchOptions } from '../../livepatch/index.ts';
import { Lab, type LabOptions } from '../selftest.ts';
import { TEST_LIVEPATCH } from './test-livepatch.ts';
import { TEST_CALLBACKS } from './test-callbacks.ts';
import { TEST_STATE } from './test-state.ts';
import { TEST_SYSFS } from './test-sysfs.ts';
import { TEST_SHADOW_VARS } from './test-shadow-vars.ts';
import { TEST_SYSCALL } from './test-syscall.ts';
import { TEST_FTRACE } from './test-ftrace.ts';

export interface Selftest {
  /** The script: "test-callbacks". */
  readonly suite: string;
  /** The script's start_test / TEST: name. */
  readonly name: string;
  /** How to boot, if not the default (2 vCPUs, the idle workload). */
  readonly boot?: BootOptions & LivepatchOptions;
  /** The steps and checks; SelftestError where the script would die. */
  run(lab: Lab): void;
  /** The lines check_result expects, once run() is over (some name pids it found). */
  expected(lab: Lab): readonly string[];
}

export const SELFTESTS: readonly Selftest[] = [
  ...TEST_LIVEPATCH,
  ...TEST_CALLBACKS,
  ...TEST_SHADOW_VARS,
  ...TEST_STATE,
  ...TEST_SYSFS,
  ...TEST_SYSCALL,
  ...TEST_FTRACE,
];

export function suites(): string[] {
  return [...new Set(SELFTESTS.map((t) => t.suite))];
}

/**
 * Boots a lab, runs the test, compares the log; throws SelftestError on any difference.
 * Returns the file each module was loaded from (`modulePath`: where modprobe looks first).
 */
export async function runSelftest(
  t: Selftest,
  opts: Pick<LabOptions, 'modulePath' | 'quirks' | 'traceEntry'> = {},
  /** Sees the lab at the end of the test, passed or failed, before it is closed (a trace, a report). */
  atEnd?: (lab: Lab) => void,
): Promise<Map<string, string>> {
  const lab = await Lab.boot({ cpus: 2, workload: 'idle', ...t.boot, ...opts });
  try {
    lab.setupConfig();
    lab.startTest();
    try {
      t.run(lab);
    } finally {
      atEnd?.(lab);
    }
    lab.checkResult(t.expected(lab));
    return lab.loadedFrom;
  } finally {
    lab.close();
  }
}
