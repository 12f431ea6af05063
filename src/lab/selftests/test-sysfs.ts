// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-sysfs.sh: the attributes under /sys/kernel/livepatch, their modes and values --
 * enabled, force, transition, replace, stack_order, <object>/patched following a target
 * module as it comes and goes.
 */
import type { Selftest } from './index.ts';
import { patching, unpatching } from './lines.ts';

const LP = 'test_klp_livepatch';
const DEMO = 'test_klp_callbacks_demo';
const MOD = 'test_klp_callbacks_mod';
const REPLACE = 'test_klp_atomic_replace';

export const TEST_SYSFS: Selftest[] = [
  {
    suite: 'test-sysfs',
    name: 'sysfs test',
    run(lab) {
      lab.loadLp(LP);
      lab.checkSysfsRights(LP, '', 'drwxr-xr-x');
      lab.checkSysfsRights(LP, 'enabled', '-rw-r--r--');
      lab.checkSysfsValue(LP, 'enabled', '1');
      lab.checkSysfsRights(LP, 'force', '--w-------');
      lab.checkSysfsRights(LP, 'transition', '-r--r--r--');
      lab.checkSysfsValue(LP, 'transition', '0');
      lab.checkSysfsRights(LP, 'vmlinux/patched', '-r--r--r--');
      lab.checkSysfsValue(LP, 'vmlinux/patched', '1');
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [`% modprobe ${LP}`, ...patching(LP), ...unpatching(LP), `% rmmod ${LP}`],
  },
  {
    suite: 'test-sysfs',
    name: 'sysfs test object/patched',
    run(lab) {
      lab.loadLp(DEMO);
      // the "patched" file follows the target module as it loads and unloads
      lab.checkSysfsValue(DEMO, `${MOD}/patched`, '0');
      lab.loadMod(MOD);
      lab.checkSysfsValue(DEMO, `${MOD}/patched`, '1');
      lab.unloadMod(MOD);
      lab.checkSysfsValue(DEMO, `${MOD}/patched`, '0');
      lab.disableLp(DEMO);
      lab.unloadLp(DEMO);
    },
    expected: () => [
      `% modprobe ${DEMO}`,
      ...patching(DEMO, ['vmlinux']),
      `% modprobe ${MOD}`,
      `livepatch: applying patch '${DEMO}' to loading module '${MOD}'`,
      `${DEMO}: pre_patch_callback: ${MOD} -> [MODULE_STATE_COMING] Full formed, running module_init`,
      `${DEMO}: post_patch_callback: ${MOD} -> [MODULE_STATE_COMING] Full formed, running module_init`,
      `${MOD}: ${MOD}_init`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
      `${DEMO}: pre_unpatch_callback: ${MOD} -> [MODULE_STATE_GOING] Going away`,
      `livepatch: reverting patch '${DEMO}' on unloading module '${MOD}'`,
      `${DEMO}: post_unpatch_callback: ${MOD} -> [MODULE_STATE_GOING] Going away`,
      ...unpatching(DEMO, ['vmlinux']),
      `% rmmod ${DEMO}`,
    ],
  },
  ...(['1', '0'] as const).map((replace): Selftest => ({
    suite: 'test-sysfs',
    name: `sysfs test replace ${replace === '1' ? 'enabled' : 'disabled'}`,
    run(lab) {
      lab.loadLp(REPLACE, { replace });
      lab.checkSysfsRights(REPLACE, 'replace', '-r--r--r--');
      lab.checkSysfsValue(REPLACE, 'replace', replace);
      lab.disableLp(REPLACE);
      lab.unloadLp(REPLACE);
    },
    expected: () => [`% modprobe ${REPLACE} replace=${replace}`, ...patching(REPLACE), ...unpatching(REPLACE), `% rmmod ${REPLACE}`],
  })),
  {
    suite: 'test-sysfs',
    name: 'sysfs test stack_order',
    run(lab) {
      lab.loadLp(LP);
      lab.loadLp(DEMO);
      lab.loadLp(REPLACE, { replace: '0' });
      lab.checkSysfsRights(LP, 'stack_order', '-r--r--r--');
      lab.checkSysfsValue(LP, 'stack_order', '1');
      lab.checkSysfsValue(DEMO, 'stack_order', '2');
      lab.checkSysfsValue(REPLACE, 'stack_order', '3');
      lab.disableLp(DEMO);
      lab.unloadLp(DEMO);
      lab.checkSysfsValue(LP, 'stack_order', '1');
      lab.checkSysfsValue(REPLACE, 'stack_order', '2');
      lab.disableLp(REPLACE);
      lab.unloadLp(REPLACE);
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP),
      `% modprobe ${DEMO}`,
      ...patching(DEMO, ['vmlinux']),
      `% modprobe ${REPLACE} replace=0`,
      ...patching(REPLACE),
      ...unpatching(DEMO, ['vmlinux']),
      `% rmmod ${DEMO}`,
      ...unpatching(REPLACE),
      `% rmmod ${REPLACE}`,
      ...unpatching(LP),
      `% rmmod ${LP}`,
    ],
  },
];
