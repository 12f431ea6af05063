// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-callbacks.sh, re-created: the order of the pre/post (un)patch callbacks (93862e38) for
 * the kernel image and for target modules loaded before, after, or during a patch, a failing
 * pre_patch callback (which cancels the transition, e679af62/6116c303, or refuses a module's
 * load), a target module whose work function blocks the transition, stacked patches, and
 * atomic replace, whose replaced patch's unpatch callbacks never run. Every line the kernel's
 * selftest expects, in its order, from real firmware.
 */
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/selftest.ts';
import { useLab } from './helpers.ts';

const LP = 'test_klp_callbacks_demo';
const LP2 = 'test_klp_callbacks_demo2';
const MOD = 'test_klp_callbacks_mod';
const BUSY = 'test_klp_callbacks_busy';
const LIVE = '[MODULE_STATE_LIVE] Normal state';
const COMING = '[MODULE_STATE_COMING] Full formed, running module_init';
const GOING = '[MODULE_STATE_GOING] Going away';

const boot = useLab({ cpus: 2, workload: 'idle' });

/** The lines of a whole patching transition of patch p with callbacks for `objs`. */
function patching(p: string, objs: string[]): string[] {
  return [
    `livepatch: enabling patch '${p}'`,
    `livepatch: '${p}': initializing patching transition`,
    ...objs.map((o) => `${p}: pre_patch_callback: ${o}`),
    `livepatch: '${p}': starting patching transition`,
    `livepatch: '${p}': completing patching transition`,
    ...objs.map((o) => `${p}: post_patch_callback: ${o}`),
    `livepatch: '${p}': patching complete`,
  ];
}

function unpatching(p: string, objs: string[]): string[] {
  return [
    `% echo 0 > /sys/kernel/livepatch/${p}/enabled`,
    `livepatch: '${p}': initializing unpatching transition`,
    ...objs.map((o) => `${p}: pre_unpatch_callback: ${o}`),
    `livepatch: '${p}': starting unpatching transition`,
    `livepatch: '${p}': completing unpatching transition`,
    ...objs.map((o) => `${p}: post_unpatch_callback: ${o}`),
    `livepatch: '${p}': unpatching complete`,
  ];
}

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

describe('test-callbacks', () => {
  it('target module before livepatch', async () => {
    const lab = await boot();
    lab.loadMod(MOD);
    lab.loadLp(LP);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.unloadMod(MOD);
    lab.checkResult([
      `% modprobe ${MOD}`,
      `${MOD}: ${MOD}_init`,
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      ...unpatching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      `% rmmod ${LP}`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
    ]);
  });

  it('module_coming notifier', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    lab.loadMod(MOD);
    // the target's object is patched now, with the guest's obj->mod set
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${LP}/${MOD}/patched`)).toBe('1');
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.unloadMod(MOD);
    lab.checkResult([
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      ...comingMod,
      ...unpatching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      `% rmmod ${LP}`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
    ]);
  });

  it('module_going notifier', async () => {
    const lab = await boot();
    lab.loadMod(MOD);
    lab.loadLp(LP);
    lab.unloadMod(MOD);
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${LP}/${MOD}/patched`)).toBe('0');
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.checkResult([
      `% modprobe ${MOD}`,
      `${MOD}: ${MOD}_init`,
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux', `${MOD} -> ${LIVE}`]),
      ...goingMod,
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP}`,
    ]);
  });

  it('module_coming and module_going notifiers', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    lab.loadMod(MOD);
    lab.unloadMod(MOD);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.checkResult([
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      ...comingMod,
      ...goingMod,
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP}`,
    ]);
  });

  it('target module not present', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.checkResult([`% modprobe ${LP}`, ...patching(LP, ['vmlinux']), ...unpatching(LP, ['vmlinux']), `% rmmod ${LP}`]);
  });

  it('pre-patch callback -ENODEV', async () => {
    const lab = await boot();
    lab.loadMod(MOD);
    const ram = Buffer.from(lab.k.mem.bytes(lab.k.hostMem.start, Number(lab.k.hostMem.end - lab.k.hostMem.start)));
    const err = lab.loadFailingMod(LP, { pre_patch_ret: '-19' });
    expect(err.message).toMatch(/returned -19/);
    // the failed enable took everything back: no patch, no trace of the module in host memory
    expect(lab.lp.patches).toHaveLength(0);
    expect(lab.modules.isLoaded(LP)).toBe(false);
    expect(Buffer.compare(ram, Buffer.from(lab.k.mem.bytes(lab.k.hostMem.start, ram.length)))).toBe(0);
    lab.unloadMod(MOD);
    lab.checkResult([
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
    ]);
  });

  it('module_coming + pre-patch callback -ENODEV', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    lab.setParam(LP, 'pre_patch_ret', '-19');
    lab.loadFailingMod(MOD);
    expect(lab.modules.isLoaded(MOD)).toBe(false);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.checkResult([
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
    ]);
  });

  it('multiple target modules', async () => {
    const lab = await boot();
    lab.loadMod(BUSY, { block_transition: 'N' });
    lab.loadLp(LP);
    lab.loadMod(MOD);
    lab.unloadMod(MOD);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.unloadMod(BUSY);
    lab.checkResult([
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
    ]);
  });

  it('busy target module', async () => {
    const lab = await boot();
    lab.loadMod(BUSY, { block_transition: 'Y' });
    lab.loadLpNowait(LP);
    // stalled on busymod_work_func: the kworker sleeps inside it
    lab.k.runFor(1500);
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${LP}/transition`)).toBe('1');
    expect(lab.logSinceStart().some((l) => /klp_try_switch_task: kworker\/u:0:\d+ is sleeping on function busymod_work_func/.test(l))).toBe(true);
    lab.loadMod(MOD);
    lab.unloadMod(MOD);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.unloadMod(BUSY);
    lab.checkResult([
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
    ]);
  });

  it('multiple livepatches', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    lab.loadLp(LP2);
    lab.disableLp(LP2);
    lab.disableLp(LP);
    lab.unloadLp(LP2);
    lab.unloadLp(LP);
    lab.checkResult([
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      `% modprobe ${LP2}`,
      ...patching(LP2, ['vmlinux']),
      ...unpatching(LP2, ['vmlinux']),
      ...unpatching(LP, ['vmlinux']),
      `% rmmod ${LP2}`,
      `% rmmod ${LP}`,
    ]);
  });

  it('atomic replace', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    lab.loadLp(LP2, { replace: '1' });
    // the replaced patch is gone: its module holds no reference any more
    expect(lab.lp.patches.map((p) => p.name)).toEqual([LP2]);
    lab.disableLp(LP2);
    lab.unloadLp(LP2);
    lab.unloadLp(LP);
    lab.checkResult([
      `% modprobe ${LP}`,
      ...patching(LP, ['vmlinux']),
      `% modprobe ${LP2} replace=1`,
      ...patching(LP2, ['vmlinux']),
      ...unpatching(LP2, ['vmlinux']),
      `% rmmod ${LP2}`,
      `% rmmod ${LP}`,
    ]);
  });
});
