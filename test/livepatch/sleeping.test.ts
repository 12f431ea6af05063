// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A task sleeping in a function the patch replaces blocks the transition (d83a7cb3's stack
 * check); after 15 tries the stragglers get fake signals (43347d56, cba82dea, 8df1947c); force
 * switches them (c99a2be7), and the forced patch's module can never be removed (68007289,
 * 29573083).
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { LivepatchError } from '../../src/livepatch/core.ts';

const boot = useLab({}, { start: false });

describe('a task sleeping on a patched function', () => {
  it('blocks the transition; fake signals, then force, then the module stays', async () => {
    const lab = await boot({ cpus: 4, workload: 'default' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k, lp } = lab;
    k.runFor(300);
    lab.startTest();
    lab.loadLpNowait('test_klp_deep');
    expect(lp.transitionPatch?.name).toBe('test_klp_deep');
    k.runFor(3000);
    // still in transition: the kdeep threads sleep below deep_c
    expect(lp.sysfsRead('/sys/kernel/livepatch/test_klp_deep/transition')).toBe('1');
    const log = () => lab.logSinceStart();
    expect(log().some((l) => /klp_try_switch_task: kdeep\/\d:\d+ is sleeping on function deep_c/.test(l))).toBe(true);
    // after 15 tries (15 emulated seconds): one notice, and the stragglers are signalled
    k.run({ ns: 20e9, until: () => log().includes('livepatch: signaling remaining tasks') });
    expect(log().filter((l) => l === 'livepatch: signaling remaining tasks')).toHaveLength(1);
    // force: only on the patch in transition
    expect(() => lp.sysfsWrite('/sys/kernel/livepatch/nope/force', '1')).toThrow(LivepatchError);
    lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/force', '1');
    expect(log()).toContain('livepatch: forcing remaining tasks to the patched state');
    lab.waitForTransition('test_klp_deep', 3000);
    expect(log()).toContain("livepatch: 'test_klp_deep': patching complete");
    // the new deep_c runs
    const stat7 = () => k.mem.u64(k.sym('deep_stats') + 56n);
    const s0 = stat7();
    k.runFor(500);
    expect(stat7()).toBeGreaterThan(s0);
    // disabling is blocked the same way (now by the new deep_c), and forced as well
    lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/enabled', '0');
    k.runFor(2000);
    expect(lp.sysfsRead('/sys/kernel/livepatch/test_klp_deep/transition')).toBe('1');
    expect(log().some((l) => /kdeep\/\d:\d+ is sleeping on function deep_c/.test(l))).toBe(true);
    lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/force', '1');
    lab.waitForTransition('test_klp_deep', 3000);
    expect(log()).toContain("livepatch: 'test_klp_deep': unpatching complete");
    expect(() => lp.patch('test_klp_deep')).toThrow(LivepatchError);
    // code of a forced patch may still be running somewhere: its module can never be removed
    expect(() => lab.unloadLp('test_klp_deep')).toThrow();
    expect(lab.modules.isLoaded('test_klp_deep')).toBe(true);
    // ... but only that one: a patch loaded later goes as usual (68007289)
    lab.loadLp('test_klp_livepatch');
    lab.disableLp('test_klp_livepatch');
    lab.unloadLp('test_klp_livepatch');
    expect(lab.modules.isLoaded('test_klp_livepatch')).toBe(false);
  }, 120_000);

  it('refuses force without a transition, and a second patch while one is in transition', async () => {
    const lab = await boot({ cpus: 2, workload: 'default' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    lab.k.runFor(200);
    lab.loadLpNowait('test_klp_deep');
    expect(lab.lp.transitionPatch?.name).toBe('test_klp_deep');
    // another patch while one is in transition: klp_enable_patch fails with -EBUSY
    expect(() => lab.loadMod('test_klp_livepatch')).toThrow(/16|EBUSY|busy/i);
    expect(lab.modules.isLoaded('test_klp_livepatch')).toBe(false);
    // writing the current value of enabled is -EINVAL; the opposite one reverses the transition
    expect(() => lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/enabled', '1')).toThrow(/Invalid argument/);
    lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/enabled', '0');
    expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_deep': reversing transition from patching to unpatching");
    lab.waitForTransition('test_klp_deep', 30_000);
    expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_deep': unpatching complete");
  }, 120_000);
});
