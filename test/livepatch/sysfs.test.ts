// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /sys/kernel/livepatch beyond what test-sysfs.sh checks (src/lab/selftests/test-sysfs.ts):
 * write-only and read-only attributes refuse the other access, there is no `signal` attribute
 * (0b3d5279), bad values are -EINVAL, a disabled patch is gone, and a func's directory is
 * named as klp_init_func() names it (old_sympos 0 shown as 1).
 */
import { describe, expect, it } from 'vitest';
import { LivepatchError } from '../../src/livepatch/core.ts';
import type { Lab } from '../../src/lab/selftest.ts';
import { sysfsMode } from '../../src/livepatch/sysfs.ts';
import { useLab } from '../helpers.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });
const LP = 'test_klp_livepatch';
const sys = (attr: string) => `/sys/kernel/livepatch/${LP}/${attr}`;
const sysfsModeOf = (lab: Lab, attr: string) => sysfsMode(lab.lp, sys(attr));

describe('sysfs', () => {
  it('refuses what the modes forbid, has no signal attribute, and forgets a disabled patch', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    expect(() => lab.lp.sysfsRead(sys('force'))).toThrow(/Permission denied/);
    expect(() => lab.lp.sysfsWrite(sys('transition'), '1')).toThrow(/Permission denied/);
    expect(() => lab.lp.sysfsRead(sys('signal'))).toThrow(LivepatchError);
    expect(lab.lp.sysfsTree().some((l) => l.endsWith('/signal'))).toBe(false);
    expect(() => lab.lp.sysfsWrite(sys('enabled'), 'maybe')).toThrow(/Invalid argument/);
    lab.disableLp(LP);
    expect(() => lab.lp.sysfsRead(sys('enabled'))).toThrow(/no such patch/);
    expect(lab.lp.sysfsTree()).toEqual([]);
    lab.unloadLp(LP);
  });

  it("names a func's directory '<name>,<sympos>' with sympos 0 shown as 1", async () => {
    const lab = await boot();
    lab.loadLp(LP);
    const fn = lab.lp.patch(LP).objs[0].funcs[0];
    expect(fn.oldSympos).toBe(0);
    expect(lab.lp.sysfsTree()).toContain(`${sys('vmlinux/cmdline_proc_show,1')}/`);
    expect(lab.lp.sysfsTree().some((l) => l.includes(',0/'))).toBe(false);
    expect(sysfsModeOf(lab, 'vmlinux/cmdline_proc_show,1')).toBe('drwxr-xr-x');
    expect(() => sysfsModeOf(lab, 'vmlinux/cmdline_proc_show,0')).toThrow(/no such file or directory/);
    lab.disableLp(LP);
    lab.unloadLp(LP);
  });
});
