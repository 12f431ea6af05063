// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-callbacks.sh: the order of the pre/post (un)patch callbacks (93862e38) for the kernel
 * image and for target modules loaded before, after, or during a patch; a failing pre_patch
 * (which cancels the transition, e679af62/6116c303, or refuses a module's load); a target
 * module whose work function stalls the transition; stacked patches; atomic replace, whose
 * replaced patch's unpatch callbacks never run.
 */
import type { Selftest } from './index.ts';
import { patching, unpatching } from './lines.ts';

const LP = 'test_klp_callbacks_demo';
const LP2 = 'test_klp_callbacks_demo2';
const MOD = 'test_klp_callbacks_mod';
const BUSY = 'test_klp_callbacks_busy';
const LIVE = '[MODULE_STATE_LIVE] Normal state';
const COMING = '[MODULE_STATE_COMING] Full formed, running module_init';
const GOING = '[MODULE_STATE_GOING] Going away';

const comingMod = [
  `% modprobe ${MOD}`,
  `livepatch: applying patch '${LP}' to loading module '${MOD}'`,
  `${LP}: pre_patch_callback: ${MOD} -> ${COMING}`,
  `${LP}: post_patch_callback: ${MOD} -> ${COMING}`,
  `${MOD}: ${MOD}_init`,
];
const goingMod = [
  `% rmmod ${MOD}`,
  `${MOD}: ${MOD}_exit`,
  `${LP}: pre_unpatch_callback: ${MOD} -> ${GOING}`,
  `livepatch: reverting patch '${LP}' on unloading module '${MOD}'`,
  `${LP}: post_unpatch_callback: ${MOD} -> ${GOING}`,
];

export const TEST_CALLBACKS: Selftest[] = [
  {
    suite: 'test-callbacks',
    name: 'target module before livepatch',
    run(lab) {
      lab.loadMod(MOD);
      lab.loadLp(LP);
      lab.disableLp(LP);
      lab.unloadLp(LP);
      lab.unloadMod(MOD);
    },
    expected: () => [
      `% modprobe ${MOD}`,
      `${MOD}: ${MOD}_init`,
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      ...unpatching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      `% rmmod ${LP}`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'module_coming notifier',
    run(lab) {
      lab.loadLp(LP);
      lab.loadMod(MOD);
      // the target's object is patched now, with the guest's obj->mod set
      lab.checkSysfsValue(LP, `${MOD}/patched`, '1');
      lab.disableLp(LP);
      lab.unloadLp(LP);
      lab.unloadMod(MOD);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      ...comingMod,
      ...unpatching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      `% rmmod ${LP}`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'module_going notifier',
    run(lab) {
      lab.loadMod(MOD);
      lab.loadLp(LP);
      lab.unloadMod(MOD);
      lab.checkSysfsValue(LP, `${MOD}/patched`, '0');
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [
      `% modprobe ${MOD}`,
      `${MOD}: ${MOD}_init`,
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      ...goingMod,
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP}`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'module_coming and module_going notifiers',
    run(lab) {
      lab.loadLp(LP);
      lab.loadMod(MOD);
      lab.unloadMod(MOD);
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      ...comingMod,
      ...goingMod,
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP}`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'target module not present',
    run(lab) {
      lab.loadLp(LP);
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [`% modprobe ${LP}`, ...patching(LP, ['vmlinux']), ...unpatching(LP, ['vmlinux']), `% rmmod ${LP}`],
  },
  {
    suite: 'test-callbacks',
    name: 'pre-patch callback -ENODEV',
    run(lab) {
      lab.loadMod(MOD);
      const before = lab.hostMemory();
      const err = lab.loadFailingMod(LP, { pre_patch_ret: '-19' });
      lab.check(/returned -19/.test(err.message), `the init fails with -19: ${err.message}`);
      // the failed enable took everything back: no patch, no trace of the module in host memory
      lab.check(lab.lp.patches.length === 0 && !lab.modules.isLoaded(LP), 'no patch and no module left');
      lab.checkHostMemory(before, 'the load');
      lab.unloadMod(MOD);
    },
    expected: () => [
      `% modprobe ${MOD}`,
      `${MOD}: ${MOD}_init`,
      `% modprobe ${LP} pre_patch_ret=-19`,
      `livepatch: enabling patch '${LP}'`,
      `livepatch: '${LP}': initializing patching transition`,
      `${LP}: pre_patch_callback: vmlinux`,
      `livepatch: pre-patch callback failed for object 'vmlinux'`,
      `livepatch: failed to enable patch '${LP}'`,
      `livepatch: '${LP}': canceling patching transition, going to unpatch`,
      `livepatch: '${LP}': completing unpatching transition`,
      `livepatch: '${LP}': unpatching complete`,
      `modprobe: ERROR: could not insert '${LP}': No such device`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'module_coming + pre-patch callback -ENODEV',
    run(lab) {
      lab.loadLp(LP);
      lab.setParam(LP, 'pre_patch_ret', '-19');
      lab.loadFailingMod(MOD);
      lab.check(!lab.modules.isLoaded(MOD), `${MOD} is not loaded`);
      lab.disableLp(LP);
      lab.unloadLp(LP);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      `% echo -19 > /sys/module/${LP}/parameters/pre_patch_ret`,
      `% modprobe ${MOD}`,
      `livepatch: applying patch '${LP}' to loading module '${MOD}'`,
      `${LP}: pre_patch_callback: ${MOD} -> ${COMING}`,
      `livepatch: pre-patch callback failed for object '${MOD}'`,
      `livepatch: patch '${LP}' failed for module '${MOD}', refusing to load module '${MOD}'`,
      `modprobe: ERROR: could not insert '${MOD}': No such device`,
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP}`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'multiple target modules',
    run(lab) {
      lab.loadMod(BUSY, { block_transition: 'N' });
      lab.loadLp(LP);
      lab.loadMod(MOD);
      lab.unloadMod(MOD);
      lab.disableLp(LP);
      lab.unloadLp(LP);
      lab.unloadMod(BUSY);
    },
    expected: () => [
      `% modprobe ${BUSY} block_transition=N`,
      `${BUSY}: ${BUSY}_init`,
      `${BUSY}: busymod_work_func enter`,
      `${BUSY}: busymod_work_func exit`,
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux', `${BUSY} -> ${LIVE}`]),
      ...comingMod,
      ...goingMod,
      ...unpatching(LP, ['vmlinux', `${BUSY} -> ${LIVE}`]),
      `% rmmod ${LP}`,
      `% rmmod ${BUSY}`,
      `${BUSY}: ${BUSY}_exit`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'busy target module',
    run(lab) {
      lab.loadMod(BUSY, { block_transition: 'Y' });
      lab.loadLpNowait(LP);
      // stalled on busymod_work_func: the kworker sleeps inside it
      lab.k.runFor(1500);
      lab.checkSysfsValue(LP, 'transition', '1');
      // (klp_try_switch_task's own lines are off, as functions.sh sets dynamic debug up)
      const kworker = [...lab.k.forEachTask()].find((t) => t.comm === 'kworker/u:0');
      const v = kworker && lab.lp.transition.switchVerdict(kworker, null);
      lab.check(
        v?.ok === false && v.why === 'sleeping on function' && v.func === 'busymod_work_func',
        'the kworker sleeps in busymod_work_func',
      );
      lab.loadMod(MOD);
      lab.unloadMod(MOD);
      lab.disableLp(LP);
      lab.unloadLp(LP);
      lab.unloadMod(BUSY);
    },
    expected: () => [
      `% modprobe ${BUSY} block_transition=Y`,
      `${BUSY}: ${BUSY}_init`,
      `${BUSY}: busymod_work_func enter`,
      `% modprobe ${LP}`,
      `livepatch: enabling patch '${LP}'`,
      `livepatch: '${LP}': initializing patching transition`,
      `${LP}: pre_patch_callback: vmlinux`,
      `${LP}: pre_patch_callback: ${BUSY} -> ${LIVE}`,
      `livepatch: '${LP}': starting patching transition`,
      // no post_patch while the patch is in transition, no pre_unpatch on the way out
      `% modprobe ${MOD}`,
      `livepatch: applying patch '${LP}' to loading module '${MOD}'`,
      `${LP}: pre_patch_callback: ${MOD} -> ${COMING}`,
      `${MOD}: ${MOD}_init`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
      `livepatch: reverting patch '${LP}' on unloading module '${MOD}'`,
      `${LP}: post_unpatch_callback: ${MOD} -> ${GOING}`,
      `% echo 0 > /sys/kernel/livepatch/${LP}/enabled`,
      `livepatch: '${LP}': reversing transition from patching to unpatching`,
      `livepatch: '${LP}': starting unpatching transition`,
      `livepatch: '${LP}': completing unpatching transition`,
      `${LP}: post_unpatch_callback: vmlinux`,
      `${LP}: post_unpatch_callback: ${BUSY} -> ${LIVE}`,
      `livepatch: '${LP}': unpatching complete`,
      `% rmmod ${LP}`,
      `% rmmod ${BUSY}`,
      `${BUSY}: busymod_work_func exit`,
      `${BUSY}: ${BUSY}_exit`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'multiple livepatches',
    run(lab) {
      lab.loadLp(LP);
      lab.loadLp(LP2);
      lab.disableLp(LP2);
      lab.disableLp(LP);
      lab.unloadLp(LP2);
      lab.unloadLp(LP);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      `% modprobe ${LP2}`,
      ...patching(LP2, ['vmlinux']),
      ...unpatching(LP2, ['vmlinux']),
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP2}`,
      `% rmmod ${LP}`,
    ],
  },
  {
    suite: 'test-callbacks',
    name: 'atomic replace',
    run(lab) {
      lab.loadLp(LP);
      lab.loadLp(LP2, { replace: '1' });
      // the replaced patch is gone: its module holds no reference any more
      lab.check(lab.lp.patches.map((p) => p.name).join() === LP2, `only ${LP2} is installed`);
      lab.disableLp(LP2);
      lab.unloadLp(LP2);
      lab.unloadLp(LP);
    },
    expected: () => [
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      `% modprobe ${LP2} replace=1`,
      ...patching(LP2, ['vmlinux']),
      ...unpatching(LP2, ['vmlinux']),
      `% rmmod ${LP2}`,
      `% rmmod ${LP}`,
    ],
  },
];
