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
  {
    name: 'immediate',
    constant: 'KLP_QUIRK_IMMEDIATE_D0807DA7',
    commit: 'd0807da78e11',
    subject: 'livepatch: Remove immediate feature',
    failure:
      'an immediate patch completes at once, stacks unchecked: kdeep threads asleep under the old deep_c ' +
      'return into it after the system counts as patched, and run the new one on their next call',
    scenario: {
      name: 'immediate',
      description: 'a patch of deep_c while the kdeep kthreads sleep below it, then disabled',
      boot: { cpus: 4, workload: 'default', quirks: ['KLP_QUIRK_IMMEDIATE_D0807DA7'] },
      steps: ['run:300', 'insmod:test_klp_deep', 'run:1000', 'disable:test_klp_deep'],
    },
  },
  {
    name: 'no-cond-resched',
    constant: 'KLP_QUIRK_NO_COND_RESCHED_E3FF7C60',
    commit: 'e3ff7c609f39',
    subject: 'livepatch,sched: Add livepatch task switching to cond_resched()',
    failure: 'CPU-bound kthreads are always running when the stack check comes: the transition never completes',
    scenario: {
      name: 'no-cond-resched',
      description: 'a patch while one CPU-bound kthread per cpu crunches numbers',
      boot: { cpus: 4, workload: 'cpu-bound', quirks: ['KLP_QUIRK_NO_COND_RESCHED_E3FF7C60'] },
      steps: [
        'run:200',
        'insmod:test_klp_livepatch',
        'wait:test_klp_livepatch:timeout=5000',
        'disable:test_klp_livepatch',
        'rmmod:test_klp_livepatch',
      ],
    },
  },
  {
    name: 'idle-not-woken',
    constant: 'KLP_QUIRK_IDLE_NOT_WOKEN_5DE62EA8',
    commit: '5de62ea84abd',
    subject: 'sched,livepatch: Use wake_up_if_idle()',
    failure: 'halted idle cpus are not woken to pass their switch point: with HZ=1 the transition waits for their ticks',
    scenario: {
      name: 'idle-not-woken',
      description: 'a patch on an idle machine whose cpus halt between ticks a second apart',
      boot: { cpus: 4, workload: 'idle', hz: 1, quirks: ['KLP_QUIRK_IDLE_NOT_WOKEN_5DE62EA8'] },
      steps: [
        'run:300',
        'insmod:test_klp_livepatch',
        'wait:test_klp_livepatch:timeout=5000',
        'disable:test_klp_livepatch',
        'rmmod:test_klp_livepatch',
      ],
    },
  },
  {
    name: 'offline-idle',
    constant: 'KLP_QUIRK_OFFLINE_IDLE_1DAF08A0',
    commit: '1daf08a066cf',
    subject: 'livepatch: Replace deprecated CPU-hotplug functions.',
    failure: "an offline cpu's idle task is tried like an online one's: always running, it never switches and the transition stalls",
    scenario: {
      name: 'offline-idle',
      description: 'a patch while cpu 2 is offline, then the cpu back and the patch disabled',
      boot: { cpus: 4, workload: 'idle', quirks: ['KLP_QUIRK_OFFLINE_IDLE_1DAF08A0'] },
      steps: [
        'run:100',
        'offline:2',
        'insmod:test_klp_livepatch',
        'wait:test_klp_livepatch:timeout=5000',
        'online:2',
        'disable:test_klp_livepatch',
        'rmmod:test_klp_livepatch',
      ],
    },
  },
  {
    name: 'no-fake-signal',
    constant: 'KLP_QUIRK_NO_FAKE_SIGNAL_43347D56',
    commit: '43347d56c8d9',
    subject: 'livepatch: send a fake signal to all blocking tasks',
    failure: 'a user task asleep in a patched system call is never kicked out of it: the transition stalls for as long as it sleeps',
    scenario: {
      name: 'no-fake-signal',
      description: 'a patch of futex_wait while a user task sleeps in it',
      boot: { cpus: 2, workload: 'futex-sleep', quirks: ['KLP_QUIRK_NO_FAKE_SIGNAL_43347D56'] },
      steps: ['run:300', 'insmod:test_klp_futex', 'wait:test_klp_futex:timeout=30000', 'disable:test_klp_futex', 'rmmod:test_klp_futex'],
    },
  },
  {
    name: 'force-marks-all',
    constant: 'KLP_QUIRK_FORCE_MARKS_ALL_29573083',
    commit: '2957308343fa',
    subject: "livepatch: Don't block removal of patches that are safe to unload",
    failure: 'forcing a patching transition marks every patch forced: the patch, disabled through the consistency model, cannot be removed',
    scenario: {
      name: 'force-marks-all',
      description: 'a patch forced to the patched state, then disabled normally and removed',
      boot: { cpus: 2, workload: 'idle', quirks: ['KLP_QUIRK_FORCE_MARKS_ALL_29573083'] },
      steps: [
        'insmod:test_klp_callbacks_busy:block_transition=Y',
        'insmod:test_klp_callbacks_demo',
        'run:1500',
        'force:test_klp_callbacks_demo',
        'wait:test_klp_callbacks_demo',
        'param:test_klp_callbacks_busy:block_transition=N',
        'disable:test_klp_callbacks_demo',
        'rmmod:test_klp_callbacks_demo',
        'rmmod:test_klp_callbacks_busy',
      ],
    },
  },
  {
    name: 'forced-global',
    constant: 'KLP_QUIRK_FORCED_GLOBAL_68007289',
    commit: '68007289',
    subject: "livepatch: Don't block the removal of patches loaded after a forced transition",
    failure: 'after one forced transition no patch module is released: a patch loaded later, disabled normally, cannot be removed',
    scenario: {
      name: 'forced-global',
      description: 'a patch forced to the patched state, then another loaded, disabled and removed',
      boot: { cpus: 2, workload: 'idle', quirks: ['KLP_QUIRK_FORCED_GLOBAL_68007289'] },
      steps: [
        'insmod:test_klp_callbacks_busy:block_transition=Y',
        'insmod:test_klp_callbacks_demo',
        'run:1500',
        'force:test_klp_callbacks_demo',
        'wait:test_klp_callbacks_demo',
        'param:test_klp_callbacks_busy:block_transition=N',
        'disable:test_klp_callbacks_demo',
        'load:test_klp_livepatch',
        'disable:test_klp_livepatch',
        'rmmod:test_klp_livepatch',
      ],
    },
  },
  {
    name: 'replaced-freed-early',
    constant: 'KLP_QUIRK_REPLACED_FREED_EARLY_7E35E4EB',
    commit: '7e35e4eb',
    subject: 'livepatch: Keep replaced patches until post_patch callback is called',
    failure:
      "a replace patch's post_patch no longer finds the replaced patch's state: test_klp_state2 " +
      'takes nothing over and stores the loglevel through the NULL it never allocated (an oops)',
    scenario: {
      name: 'replaced-freed-early',
      description: 'a cumulative patch taking over the console_loglevel state of the one it replaces',
      boot: { cpus: 2, workload: 'idle', quirks: ['KLP_QUIRK_REPLACED_FREED_EARLY_7E35E4EB'] },
      steps: ['load:test_klp_state', 'load:test_klp_state2', 'disable:test_klp_state2', 'rmmod:test_klp_state2', 'rmmod:test_klp_state'],
    },
  },
  {
    name: 'rcu-idle',
    constant: 'KLP_QUIRK_RCU_IDLE_842C0884',
    commit: '842c0884',
    subject: 'livepatch: Fix stacking of patches with respect to RCU',
    failure:
      "livepatch's grace periods do not wait for an idle cpu RCU is not watching: a handler there, held up " +
      "between reading func->transition and its task's patch_state, sees the state the transition reset (a WARN), " +
      'or the func of a patch whose module is gone by then (an oops)',
    scenario: {
      name: 'rcu-idle',
      description: 'a patch of the idle path (cpuidle_not_available) loaded and disabled on an idle machine',
      boot: { cpus: 2, workload: 'idle', quirks: ['KLP_QUIRK_RCU_IDLE_842C0884'] },
      steps: [
        'run:100',
        'insmod:test_klp_idle',
        'wait:test_klp_idle',
        'run:500',
        'disable:test_klp_idle',
        'wait:test_klp_idle',
        'rmmod:test_klp_idle',
      ],
    },
  },
  {
    name: 'sigpending',
    constant: 'KLP_QUIRK_SIGPENDING_8DF1947C',
    commit: '8df1947c71ee',
    subject: 'livepatch: Replace the fake signal sending with TIF_NOTIFY_SIGNAL infrastructure',
    failure:
      'the fake signal is TIF_SIGPENDING with nothing queued: one that lands as rt_sigsuspend begins is cleared by its ' +
      'recalc_sigpending(), and the task sleeps on in the patched function until a real signal comes',
    scenario: {
      name: 'sigpending',
      description: 'a patch of rt_sigsuspend while a user task waits in it for a signal every tick',
      boot: { cpus: 2, workload: 'sigsuspend', quirks: ['KLP_QUIRK_SIGPENDING_8DF1947C'] },
      steps: [
        'run:100',
        'insmod:test_klp_sigsuspend',
        'wait:test_klp_sigsuspend',
        'disable:test_klp_sigsuspend',
        'wait:test_klp_sigsuspend',
        'rmmod:test_klp_sigsuspend',
      ],
    },
  },
];

/** The quirk of that short name or KLP_QUIRK_* constant, if the lab has one. */
export function findQuirk(name: string): Quirk | undefined {
  return QUIRKS.find((q) => q.name === name || q.constant === name);
}
