// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's livepatch selftests, re-created as lab scenarios (src/lab/selftests/): each
 * runs its script's steps and checks on a freshly booted lab and compares the kernel log with
 * the lines the script's check_result expects.
 */
import { describe, it } from 'vitest';
import { SELFTESTS, runSelftest, suites } from '../../src/lab/selftests/index.ts';

for (const suite of suites())
  describe(suite, () => {
    for (const t of SELFTESTS.filter((x) => x.suite === suite)) it(t.name, () => runSelftest(t), 60_000);
  });
