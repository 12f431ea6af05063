// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-livepatch.sh, "basic function patching", and the consistency model seen from inside the
 * guest: new code runs on every vCPU after the transition, and never for a task still in the
 * unpatched state while it runs; CPU-bound kthreads that never sleep switch in cond_resched().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/selftest.ts';
import { KLP_PATCHED, KLP_UNPATCHED } from '../../src/livepatch/structs.ts';

let lab: Lab | undefined;
afterEach(() => {
  lab?.close();
  lab = undefined;
});

describe('test-livepatch', () => {
  it('basic function patching', async () => {
    lab = await Lab.boot({ cpus: 4, workload: 'idle' });
    const before = lab.cat('lab_cmdline_show');
    expect(before).toMatch(/^klp-lab workload=idle/);
    lab.startTest();
    lab.loadLp('test_klp_livepatch');
    expect(lab.cat('lab_cmdline_show')).toBe('test_klp_livepatch: this has been live patched\n');
    expect(lab.lp.sysfsRead('/sys/kernel/livepatch/test_klp_livepatch/enabled')).toBe('1');
    expect(lab.lp.sysfsRead('/sys/kernel/livepatch/test_klp_livepatch/transition')).toBe('0');
    expect(lab.lp.sysfsRead('/sys/kernel/livepatch/test_klp_livepatch/vmlinux/patched')).toBe('1');
    lab.disableLp('test_klp_livepatch');
    expect(lab.cat('lab_cmdline_show')).toBe(before);
    lab.unloadLp('test_klp_livepatch');
    lab.checkResult([
      '% modprobe test_klp_livepatch',
      "livepatch: enabling patch 'test_klp_livepatch'",
      "livepatch: 'test_klp_livepatch': initializing patching transition",
      "livepatch: 'test_klp_livepatch': starting patching transition",
      "livepatch: 'test_klp_livepatch': completing patching transition",
      "livepatch: 'test_klp_livepatch': patching complete",
      '% echo 0 > /sys/kernel/livepatch/test_klp_livepatch/enabled',
      "livepatch: 'test_klp_livepatch': initializing unpatching transition",
      "livepatch: 'test_klp_livepatch': starting unpatching transition",
      "livepatch: 'test_klp_livepatch': completing unpatching transition",
      "livepatch: 'test_klp_livepatch': unpatching complete",
      '% rmmod test_klp_livepatch',
    ]);
  });
});

const LP = 'test_klp_livepatch';
const REPLACE = 'test_klp_atomic_replace';

/** The selftest's "grep 'live patched' /proc/cmdline > /dev/kmsg" and the same for meminfo. */
function grepPatched(lab: Lab): void {
  lab.grepToKmsg('lab_cmdline_show', 'live patched');
  lab.grepToKmsg('lab_meminfo_show', 'live patched');
}

const patching = (p: string) => [
  `livepatch: enabling patch '${p}'`,
  `livepatch: '${p}': initializing patching transition`,
  `livepatch: '${p}': starting patching transition`,
  `livepatch: '${p}': completing patching transition`,
  `livepatch: '${p}': patching complete`,
];
const unpatching = (p: string) => [
  `% echo 0 > /sys/kernel/livepatch/${p}/enabled`,
  `livepatch: '${p}': initializing unpatching transition`,
  `livepatch: '${p}': starting unpatching transition`,
  `livepatch: '${p}': completing unpatching transition`,
  `livepatch: '${p}': unpatching complete`,
];

describe('test-livepatch, more patches', () => {
  it('multiple livepatches', async () => {
    lab = await Lab.boot({ cpus: 4, workload: 'idle' });
    lab.startTest();
    lab.loadLp(LP);
    grepPatched(lab);
    lab.loadLp(REPLACE, { replace: '0' });
    grepPatched(lab);
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${LP}/stack_order`)).toBe('1');
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${REPLACE}/stack_order`)).toBe('2');
    lab.disableLp(REPLACE);
    lab.unloadLp(REPLACE);
    grepPatched(lab);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    grepPatched(lab);
    lab.checkResult([
      `% modprobe ${LP}`,
      ...patching(LP),
      `${LP}: this has been live patched`,
      `% modprobe ${REPLACE} replace=0`,
      ...patching(REPLACE),
      `${LP}: this has been live patched`,
      `${REPLACE}: this has been live patched`,
      ...unpatching(REPLACE),
      `% rmmod ${REPLACE}`,
      `${LP}: this has been live patched`,
      ...unpatching(LP),
      `% rmmod ${LP}`,
    ]);
  });

  it("atomic replace livepatch: the nop takes the old patch's function back and is dropped (e1452b60, d697bad5)", async () => {
    lab = await Lab.boot({ cpus: 4, workload: 'idle' });
    const k = lab.k;
    const site = k.sym('lab_cmdline_show');
    const nop5 = Buffer.from(k.mem.bytes(site, 5));
    lab.startTest();
    lab.loadLp(LP);
    expect(Buffer.from(k.mem.bytes(site, 5))).not.toEqual(nop5); // a call to the trampoline
    grepPatched(lab);
    lab.loadLpNowait(REPLACE, { replace: '1' });
    // in transition: the replace patch carries a dynamic nop func for lab_cmdline_show
    const rp = lab.lp.patch(REPLACE);
    const nops = rp.objs.flatMap((o) => o.funcs.filter((f) => f.nop));
    expect(nops.map((f) => f.oldName)).toEqual(['lab_cmdline_show']);
    expect(lab.lp.sysfsTree()).toContain(`/sys/kernel/livepatch/${REPLACE}/vmlinux/lab_cmdline_show,0/`);
    lab.waitForTransition(REPLACE);
    // complete: the replaced patch is gone, the nop discarded, the site a 5-byte NOP again
    expect(lab.lp.patches.map((p) => p.name)).toEqual([REPLACE]);
    expect(rp.objs.flatMap((o) => o.funcs).map((f) => f.oldName)).toEqual(['lab_meminfo_show']);
    expect(lab.lp.sysfsTree().filter((l) => l.includes('lab_cmdline_show'))).toEqual([]);
    expect(Buffer.from(k.mem.bytes(site, 5))).toEqual(nop5);
    grepPatched(lab);
    // the replaced patch's module is free to go without a disable
    lab.unloadLp(LP);
    grepPatched(lab);
    lab.disableLp(REPLACE);
    lab.unloadLp(REPLACE);
    grepPatched(lab);
    lab.checkResult([
      `% modprobe ${LP}`,
      ...patching(LP),
      `${LP}: this has been live patched`,
      `% modprobe ${REPLACE} replace=1`,
      ...patching(REPLACE),
      `${REPLACE}: this has been live patched`,
      `% rmmod ${LP}`,
      `${REPLACE}: this has been live patched`,
      ...unpatching(REPLACE),
      `% rmmod ${REPLACE}`,
    ]);
  });
});

describe('test-livepatch, module function patching', () => {
  const TARGET = 'test_klp_mod_target';
  const PATCH = 'test_klp_mod_patch';
  const show = 'test_klp_mod_target_show';
  const original = `${TARGET}: original output\n`;
  const patched = `${PATCH}: this has been live patched\n`;
  const tail = [...unpatching(PATCH), `% rmmod ${PATCH}`, `% rmmod ${TARGET}`, `${TARGET}: ${TARGET}_exit`];

  it('target module loaded before the livepatch (klp_enable_patch)', async () => {
    lab = await Lab.boot({ cpus: 2, workload: 'idle' });
    lab.startTest();
    lab.loadMod(TARGET);
    expect(lab.cat(show)).toBe(original);
    lab.loadLp(PATCH);
    expect(lab.cat(show)).toBe(patched);
    lab.disableLp(PATCH);
    lab.unloadLp(PATCH);
    expect(lab.cat(show)).toBe(original);
    lab.unloadMod(TARGET);
    lab.checkResult([`% modprobe ${TARGET}`, `${TARGET}: ${TARGET}_init`, `% modprobe ${PATCH}`, ...patching(PATCH), ...tail]);
  });

  it('livepatch loaded before the target module (klp_module_coming)', async () => {
    lab = await Lab.boot({ cpus: 2, workload: 'idle' });
    lab.startTest();
    lab.loadLp(PATCH);
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${PATCH}/${TARGET}/patched`)).toBe('0');
    lab.loadMod(TARGET);
    expect(lab.lp.sysfsRead(`/sys/kernel/livepatch/${PATCH}/${TARGET}/patched`)).toBe('1');
    expect(lab.cat(show)).toBe(patched);
    lab.disableLp(PATCH);
    lab.unloadLp(PATCH);
    expect(lab.cat(show)).toBe(original);
    lab.unloadMod(TARGET);
    lab.checkResult([
      `% modprobe ${PATCH}`,
      ...patching(PATCH),
      `% modprobe ${TARGET}`,
      `livepatch: applying patch '${PATCH}' to loading module '${TARGET}'`,
      `${TARGET}: ${TARGET}_init`,
      ...tail,
    ]);
  });
});

describe('consistency model on every vCPU', () => {
  it('runs new code only for switched tasks; CPU-bound kthreads switch in cond_resched()', async () => {
    lab = await Lab.boot({ cpus: 4, workload: 'probe' });
    const k = lab.k;
    const seen = () => [0, 1, 2, 3].map((c) => k.mem.s32(k.sym('probe_seen') + BigInt(4 * c)));
    k.run({ ns: 500e6, until: () => seen().every((v) => v === 1) });
    lab.startTest();
    lab.loadLpNowait('test_klp_probe');
    // cond_resched() looks for pending tasks while the transition runs (e3ff7c60) ...
    const condResched = () => k.mem.u32(k.sym('klp_cond_resched_enabled'));
    expect(condResched()).toBe(1);
    const probes = [...k.forEachTask()].filter((t) => t.comm.startsWith('kprobe/'));
    expect(probes).toHaveLength(4);
    let inTransition = 0;
    while (lab.lp.transitionPatch) {
      k.run({ rounds: 1 });
      inTransition++;
      for (const t of probes) {
        // a task still unpatched has not run the new code since its last call returned
        if (t.patchState === KLP_UNPATCHED) expect(seen()[t.cpu]).toBe(1);
        if (t.patchState === KLP_PATCHED) expect([1, 2]).toContain(seen()[t.cpu]);
      }
      expect(inTransition).toBeLessThan(10_000);
    }
    // ... and stops once it is over
    expect(condResched()).toBe(0);
    k.runFor(50);
    expect(seen()).toEqual([2, 2, 2, 2]);
    const violations = k.mem.u64(lab.modules.findSymbol('test_klp_probe', 'klp_probe_violations', 0));
    const calls = k.mem.u64(lab.modules.findSymbol('test_klp_probe', 'klp_probe_calls', 0));
    expect(calls).toBeGreaterThan(100n);
    expect(violations).toBe(0n);
    const lines = lab.logSinceStart();
    // always running, the probe threads could not be switched from outside ...
    expect(lines.some((l) => /klp_try_switch_task: kprobe\/\d:\d+ is running/.test(l))).toBe(true);
    // ... and switched themselves in cond_resched()
    expect(lines).toContain("livepatch: 'test_klp_probe': patching complete");
  });
});
