// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The historic bugs of the core that a boot quirk brings back (firmware/include/lab/boot.h):
 * each flag undoes one fix of kernel/livepatch/*.c where the fix was in code the host runs.
 * They are read once, from the booted kernel's boot_params: a quirk is chosen at boot and holds
 * for the whole run. Every flag is false on a plain boot, and then the core is today's kernel.
 */
import { type Kernel, quirkEnabled } from '../kernel/index.ts';

export interface KlpQuirks {
  /** d0807da78e11: every patch is immediate -- no per-task states, no stack checks. */
  readonly immediate: boolean;
  /** e3ff7c609f39: cond_resched() is no switch point. */
  readonly noCondResched: boolean;
  /** 5de62ea84abd: an idle cpu whose idle task cannot switch is not woken. */
  readonly idleNotWoken: boolean;
  /** 1daf08a066cf: an offline cpu's idle task is tried like an online one's. */
  readonly offlineIdle: boolean;
  /** 43347d56c8d9: no fake signals to the tasks that hold a transition up. */
  readonly noFakeSignal: boolean;
  /** 2957308343fa: forcing a transition marks every patch forced. */
  readonly forceMarksAll: boolean;
  /** 68007289: after one forced transition no patch module is ever released. */
  readonly forcedGlobal: boolean;
  /** 7e35e4eb: the patches a replace patch supersedes go before its post_patch callbacks. */
  readonly replacedFreedEarly: boolean;
  /** 842c0884: livepatch's grace periods are synchronize_rcu()'s, which skip idle cpus RCU does not watch. */
  readonly rcuIdle: boolean;
}

export function readKlpQuirks(k: Kernel): KlpQuirks {
  const q = (c: string) => quirkEnabled(k, c);
  return {
    immediate: q('KLP_QUIRK_IMMEDIATE_D0807DA7'),
    noCondResched: q('KLP_QUIRK_NO_COND_RESCHED_E3FF7C60'),
    idleNotWoken: q('KLP_QUIRK_IDLE_NOT_WOKEN_5DE62EA8'),
    offlineIdle: q('KLP_QUIRK_OFFLINE_IDLE_1DAF08A0'),
    noFakeSignal: q('KLP_QUIRK_NO_FAKE_SIGNAL_43347D56'),
    forceMarksAll: q('KLP_QUIRK_FORCE_MARKS_ALL_29573083'),
    forcedGlobal: q('KLP_QUIRK_FORCED_GLOBAL_68007289'),
    replacedFreedEarly: q('KLP_QUIRK_REPLACED_FREED_EARLY_7E35E4EB'),
    rcuIdle: q('KLP_QUIRK_RCU_IDLE_842C0884'),
  };
}
