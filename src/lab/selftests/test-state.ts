// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-state.sh: cumulative patches that change a system state (console_loglevel) and declare
 * it as a klp_state. A newer version takes the change over through klp_get_prev_state() in its
 * callbacks -- possible because the replaced patch stays installed until the new patch's
 * post_patch callback has run (7e35e4eb) -- and an older version is refused as incompatible,
 * with host memory as it was.
 */
import type { Lab } from '../selftest.ts';
import type { Selftest } from './index.ts';

const LP = 'test_klp_state';
const LP2 = 'test_klp_state2';
const LP3 = 'test_klp_state3';

const loglevel = (lab: Lab) => lab.k.mem.s32(lab.k.sym('console_loglevel'));

function enable(p: string, first: boolean): string[] {
  return [
    `% modprobe ${p}`,
    `livepatch: enabling patch '${p}'`,
    `livepatch: '${p}': initializing patching transition`,
    `${p}: pre_patch_callback: vmlinux`,
    first
      ? `${p}: allocate_loglevel_state: allocating space to store console_loglevel`
      : `${p}: allocate_loglevel_state: space to store console_loglevel already allocated`,
    `livepatch: '${p}': starting patching transition`,
    `livepatch: '${p}': completing patching transition`,
    `${p}: post_patch_callback: vmlinux`,
    first ? `${p}: fix_console_loglevel: fixing console_loglevel` : `${p}: fix_console_loglevel: taking over the console_loglevel change`,
    `livepatch: '${p}': patching complete`,
  ];
}

function disable(p: string): string[] {
  return [
    `% echo 0 > /sys/kernel/livepatch/${p}/enabled`,
    `livepatch: '${p}': initializing unpatching transition`,
    `${p}: pre_unpatch_callback: vmlinux`,
    `${p}: restore_console_loglevel: restoring console_loglevel`,
    `livepatch: '${p}': starting unpatching transition`,
    `livepatch: '${p}': completing unpatching transition`,
    `${p}: post_unpatch_callback: vmlinux`,
    `${p}: free_loglevel_state: freeing space for the stored console_loglevel`,
    `livepatch: '${p}': unpatching complete`,
    `% rmmod ${p}`,
  ];
}

function checkLoglevel(lab: Lab, level: number): void {
  lab.check(loglevel(lab) === level, `console_loglevel is ${level} (it is ${loglevel(lab)})`);
}

export const TEST_STATE: Selftest[] = [
  {
    suite: 'test-state',
    name: 'system state modification',
    run(lab) {
      checkLoglevel(lab, 7);
      lab.loadLp(LP);
      checkLoglevel(lab, 15);
      lab.disableLp(LP);
      lab.unloadLp(LP);
      checkLoglevel(lab, 7);
    },
    expected: () => [...enable(LP, true), ...disable(LP)],
  },
  {
    suite: 'test-state',
    name: 'taking over system state modification',
    run(lab) {
      lab.loadLp(LP);
      const saved = lab.lp.patch(LP).states[0];
      lab.loadLp(LP2);
      // LP2 now owns the space LP allocated, holding the level from before (its post_patch
      // copied LP's pointer: LP was still installed then)
      const mine = lab.lp.patch(LP2).states[0];
      const dataOf = (address: bigint) => lab.k.mem.u64(address + lab.lp.L.state.data);
      lab.check(dataOf(saved.address) !== 0n && dataOf(mine.address) === dataOf(saved.address), `${LP2} took over ${LP}'s state data`);
      lab.check(lab.k.mem.s32(dataOf(mine.address)) === 7, 'the saved level is 7');
      lab.check(lab.lp.patches.map((p) => p.name).join() === LP2, `only ${LP2} is installed`);
      lab.unloadLp(LP);
      checkLoglevel(lab, 15);
      lab.disableLp(LP2);
      lab.unloadLp(LP2);
      checkLoglevel(lab, 7);
    },
    expected: () => [...enable(LP, true), ...enable(LP2, false), `% rmmod ${LP}`, ...disable(LP2)],
  },
  {
    suite: 'test-state',
    name: 'compatible cumulative livepatches',
    run(lab) {
      lab.loadLp(LP2);
      lab.loadLp(LP3);
      lab.unloadLp(LP2);
      lab.loadLp(LP2);
      lab.disableLp(LP2);
      lab.unloadLp(LP2);
      lab.unloadLp(LP3);
      checkLoglevel(lab, 7);
    },
    expected: () => [
      ...enable(LP2, true),
      ...enable(LP3, false),
      `% rmmod ${LP2}`,
      ...enable(LP2, false),
      ...disable(LP2),
      `% rmmod ${LP3}`,
    ],
  },
  {
    suite: 'test-state',
    name: 'incompatible cumulative livepatches',
    run(lab) {
      lab.loadLp(LP2);
      const before = lab.hostMemory();
      const err = lab.loadFailingMod(LP);
      lab.check(/returned -22/.test(err.message), `the init fails with -22: ${err.message}`);
      lab.checkHostMemory(before, 'the load');
      lab.disableLp(LP2);
      lab.unloadLp(LP2);
    },
    expected: () => [
      ...enable(LP2, true),
      `% modprobe ${LP}`,
      `livepatch: Livepatch patch (${LP}) is not compatible with the already installed livepatches.`,
      `modprobe: ERROR: could not insert '${LP}': Invalid argument`,
      ...disable(LP2),
    ],
  },
];
