// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The consistency model seen from inside the guest: new code runs on every vCPU after the
 * transition, and never for a task still in the unpatched state while it runs; CPU-bound
 * kthreads that never sleep switch in cond_resched(). (test-livepatch.sh itself is in
 * src/lab/selftests/test-livepatch.ts, run by selftests.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { KLP_PATCHED, KLP_UNPATCHED } from '../../src/livepatch/structs.ts';

const boot = useLab({}, { start: false });

describe('consistency model on every vCPU', () => {
  it('runs new code only for switched tasks; CPU-bound kthreads switch in cond_resched()', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
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
