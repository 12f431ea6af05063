// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-syscall.sh: processes calling getpid in a loop (the getpid workload, one per cpu from
 * cpu 1) while test_klp_syscall replaces the getpid system call; each process crosses itself
 * off when it first runs the new code, which it can only do once it switched -- on its way
 * back to user mode, as it is always running when the transition looks at it.
 */
import type { Lab } from '../selftest.ts';
import type { Selftest } from './index.ts';
import { patching, unpatching } from './lines.ts';

const MOD = 'test_klp_syscall';

/** What check_result expects for the processes `pids`. */
export function syscallLines(pids: readonly number[]): string[] {
  return [
    `% modprobe ${MOD} klp_pids=${pids.join(',')}`,
    ...patching(MOD),
    `${MOD}: Remaining not livepatched processes: 0`,
    ...unpatching(MOD),
    `% rmmod ${MOD}`,
  ];
}

/**
 * npids_pending of the loaded module, from guest memory: processes not yet seen in the new
 * getpid. (A cheap check between quanta; its sysfs file says the same through the module.)
 */
export function npidsPending(lab: Lab): number {
  return lab.k.mem.u32(lab.modules.findSymbol(MOD, 'npids_pending'));
}

const pidsOf = new WeakMap<Lab, number[]>();

export const TEST_SYSCALL: Selftest[] = [
  {
    suite: 'test-syscall',
    name: 'patch getpid syscall while being heavily hammered',
    boot: { cpus: 4, workload: 'getpid', nrUser: 3 },
    run(lab) {
      const k = lab.k;
      const procs = () => [...k.forEachTask()].filter((t) => t.comm === 'ugetpid');
      lab.check(k.run({ ns: 1e9, until: () => procs().length === 3 }).untilMet, 'three ugetpid processes run');
      const pids = procs().map((t) => t.pid);
      pidsOf.set(lab, pids);
      lab.loadLp(MOD, { klp_pids: pids.join(',') });
      k.run({ ns: 5e9, until: () => npidsPending(lab) === 0 });
      // the script's loop: cat /sys/kernel/test_klp_syscall/npids until it says 0
      lab.log(`${MOD}: Remaining not livepatched processes: ${lab.sysfsRead(`/sys/kernel/${MOD}/npids`).trim()}`);
      for (const pid of pids) lab.kill(pid);
      lab.check(k.run({ ns: 1e9, until: () => pids.every((pid) => k.task(pid) === undefined) }).untilMet, 'the processes exit');
      lab.disableLp(MOD);
      lab.unloadLp(MOD);
    },
    expected: (lab) => syscallLines(pidsOf.get(lab) ?? []),
  },
];
