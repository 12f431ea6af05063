// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-sysfs.sh, re-created: the attributes under /sys/kernel/livepatch, their modes and
 * values -- enabled, force, transition, replace, stack_order, <object>/patched following a
 * target module as it comes and goes -- and no `signal` attribute (0b3d5279).
 */
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/selftest.ts';
import { useLab } from './helpers.ts';
import { LivepatchError } from '../../src/livepatch/core.ts';
import { sysfsMode } from '../../src/livepatch/sysfs.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });

const sys = (p: string, attr = '') => `/sys/kernel/livepatch/${p}${attr ? `/${attr}` : ''}`;

/** check_sysfs_rights / check_sysfs_value */
function checkRights(lab: Lab, p: string, attr: string, mode: string): void {
  expect(sysfsMode(lab.lp, sys(p, attr))).toBe(mode);
}
function checkValue(lab: Lab, p: string, attr: string, value: string): void {
  expect(lab.lp.sysfsRead(sys(p, attr))).toBe(value);
}

describe('test-sysfs', () => {
  it('sysfs test', async () => {
    const lab = await boot();
    const LP = 'test_klp_livepatch';
    lab.loadLp(LP);
    checkRights(lab, LP, '', 'drwxr-xr-x');
    checkRights(lab, LP, 'enabled', '-rw-r--r--');
    checkValue(lab, LP, 'enabled', '1');
    checkRights(lab, LP, 'force', '--w-------');
    checkRights(lab, LP, 'transition', '-r--r--r--');
    checkValue(lab, LP, 'transition', '0');
    checkRights(lab, LP, 'vmlinux/patched', '-r--r--r--');
    checkValue(lab, LP, 'vmlinux/patched', '1');
    checkRights(lab, LP, 'vmlinux/lab_cmdline_show,0', 'drwxr-xr-x');
    // write-only, read-only, and gone
    expect(() => lab.lp.sysfsRead(sys(LP, 'force'))).toThrow(/Permission denied/);
    expect(() => lab.lp.sysfsWrite(sys(LP, 'transition'), '1')).toThrow(/Permission denied/);
    expect(() => lab.lp.sysfsRead(sys(LP, 'signal'))).toThrow(LivepatchError);
    expect(lab.lp.sysfsTree().some((l) => l.endsWith('/signal'))).toBe(false);
    // bad values for enabled
    expect(() => lab.lp.sysfsWrite(sys(LP, 'enabled'), 'maybe')).toThrow(/Invalid argument/);
    lab.disableLp(LP);
    // a disabled patch is gone from sysfs
    expect(() => lab.lp.sysfsRead(sys(LP, 'enabled'))).toThrow(/no such patch/);
    lab.unloadLp(LP);
    lab.checkResult([
      `% modprobe ${LP}`,
      `livepatch: enabling patch '${LP}'`,
      `livepatch: '${LP}': initializing patching transition`,
      `livepatch: '${LP}': starting patching transition`,
      `livepatch: '${LP}': completing patching transition`,
      `livepatch: '${LP}': patching complete`,
      `% echo 0 > /sys/kernel/livepatch/${LP}/enabled`,
      `livepatch: '${LP}': initializing unpatching transition`,
      `livepatch: '${LP}': starting unpatching transition`,
      `livepatch: '${LP}': completing unpatching transition`,
      `livepatch: '${LP}': unpatching complete`,
      `% rmmod ${LP}`,
    ]);
  });

  it('sysfs test object/patched', async () => {
    const lab = await boot();
    const LP = 'test_klp_callbacks_demo';
    const MOD = 'test_klp_callbacks_mod';
    lab.loadLp(LP);
    checkValue(lab, LP, `${MOD}/patched`, '0');
    lab.loadMod(MOD);
    checkValue(lab, LP, `${MOD}/patched`, '1');
    lab.unloadMod(MOD);
    checkValue(lab, LP, `${MOD}/patched`, '0');
    lab.disableLp(LP);
    lab.unloadLp(LP);
    lab.checkResult([
      `% modprobe ${LP}`,
      `livepatch: enabling patch '${LP}'`,
      `livepatch: '${LP}': initializing patching transition`,
      `${LP}: pre_patch_callback: vmlinux`,
      `livepatch: '${LP}': starting patching transition`,
      `livepatch: '${LP}': completing patching transition`,
      `${LP}: post_patch_callback: vmlinux`,
      `livepatch: '${LP}': patching complete`,
      `% modprobe ${MOD}`,
      `livepatch: applying patch '${LP}' to loading module '${MOD}'`,
      `${LP}: pre_patch_callback: ${MOD} -> [MODULE_STATE_COMING] Full formed, running module_init`,
      `${LP}: post_patch_callback: ${MOD} -> [MODULE_STATE_COMING] Full formed, running module_init`,
      `${MOD}: ${MOD}_init`,
      `% rmmod ${MOD}`,
      `${MOD}: ${MOD}_exit`,
      `${LP}: pre_unpatch_callback: ${MOD} -> [MODULE_STATE_GOING] Going away`,
      `livepatch: reverting patch '${LP}' on unloading module '${MOD}'`,
      `${LP}: post_unpatch_callback: ${MOD} -> [MODULE_STATE_GOING] Going away`,
      `% echo 0 > /sys/kernel/livepatch/${LP}/enabled`,
      `livepatch: '${LP}': initializing unpatching transition`,
      `${LP}: pre_unpatch_callback: vmlinux`,
      `livepatch: '${LP}': starting unpatching transition`,
      `livepatch: '${LP}': completing unpatching transition`,
      `${LP}: post_unpatch_callback: vmlinux`,
      `livepatch: '${LP}': unpatching complete`,
      `% rmmod ${LP}`,
    ]);
  });

  it('sysfs test replace enabled / disabled', async () => {
    const lab = await boot();
    const LP = 'test_klp_atomic_replace';
    for (const replace of ['1', '0']) {
      lab.loadLp(LP, { replace });
      checkRights(lab, LP, 'replace', '-r--r--r--');
      checkValue(lab, LP, 'replace', replace);
      lab.disableLp(LP);
      lab.unloadLp(LP);
    }
  });

  it('sysfs test stack_order', async () => {
    const lab = await boot();
    const [A, B, C] = ['test_klp_livepatch', 'test_klp_callbacks_demo', 'test_klp_atomic_replace'];
    lab.loadLp(A);
    lab.loadLp(B);
    lab.loadLp(C, { replace: '0' });
    checkRights(lab, A, 'stack_order', '-r--r--r--');
    expect([A, B, C].map((p) => lab.lp.sysfsRead(sys(p, 'stack_order')))).toEqual(['1', '2', '3']);
    lab.disableLp(B);
    lab.unloadLp(B);
    expect([A, C].map((p) => lab.lp.sysfsRead(sys(p, 'stack_order')))).toEqual(['1', '2']);
    lab.disableLp(C);
    lab.disableLp(A);
    lab.unloadLp(C);
    lab.unloadLp(A);
    expect(lab.lp.sysfsTree()).toEqual([]);
  });
});
