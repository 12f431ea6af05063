// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The historic bugs the lab can bring back, one boot quirk per fix of transition.c's history
 * whose absence shows: what the quirk undoes, the commit that fixed it, and the scenario in
 * which the failure can happen (the explorer looks for the schedule that makes it happen).
 * docs/history.md tells each story and names the check that catches it.
 */
import type { Scenario } from './scenario.ts';

export interface Quirk {
  /** The short name `--quirk` takes. */
  name: string;
  /** The image's KLP_QUIRK_* constant, as BootOptions.quirks takes it. */
  constant: string;
  /** The fix it undoes: 12-hex commit and subject. */
  commit: string;
  subject: string;
  /** One line: what goes wrong without the fix. */
  failure: string;
  /** The session in which it can go wrong. */
  scenario: Scenario;
}

export const QUIRKS: readonly Quirk[] = [
  {
    name: 'fork-race',
    constant: 'KLP_QUIRK_FORK_RACE_747F7A29',
    commit: '747f7a290117',
    subject: 'livepatch: fix race between fork and KLP transition',
    failure:
      'a child forked while its parent switches inherits the pending flag and copies the new state: ' +
      'a kthread stays pending at the target, and after the transition',
    scenario: {
      name: 'fork-race',
      description: 'forking kthreads and user tasks through a patching and an unpatching transition',
      boot: { cpus: 4, workload: 'fork', quirks: ['KLP_QUIRK_FORK_RACE_747F7A29'] },
      steps: [
        'run:200',
        'insmod:test_klp_livepatch',
        'wait:test_klp_livepatch',
        'disable:test_klp_livepatch',
        'wait:test_klp_livepatch',
        'rmmod:test_klp_livepatch',
      ],
    },
  },
];

/** The quirk of that short name or KLP_QUIRK_* constant, if the lab has one. */
export function findQuirk(name: string): Quirk | undefined {
  return QUIRKS.find((q) => q.name === name || q.constant === name);
}
