// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /sys/kernel/livepatch beyond what test-sysfs.sh checks (src/lab/selftests/test-sysfs.ts):
 * write-only and read-only attributes refuse the other access, there is no `signal` attribute
 * (0b3d5279), bad values are -EINVAL, and a disabled patch is gone.
 */
import { describe, expect, it } from 'vitest';
import { LivepatchError } from '../../src/livepatch/core.ts';
import { useLab } from './helpers.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });
const LP = 'test_klp_livepatch';
const sys = (attr: string) => `/sys/kernel/livepatch/${LP}/${attr}`;

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
});
