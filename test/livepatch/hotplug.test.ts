// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A transition with a cpu offline (klp_try_complete_transition(), commit 1daf08a0): the idle
 * task of an offline cpu cannot reach its switch point, so it is switched directly, while it
 * stays parked; the online idle tasks switch themselves in their idle loop. The cpu brought
 * back after the transition finds every task UNDEFINED and runs the new code.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { Lab } from '../../src/lab/selftest.ts';
import { idleTask, allTasks } from '../../src/kernel/task.ts';
import { KLP_PATCHED, KLP_UNDEFINED, KLP_UNPATCHED } from '../../src/livepatch/structs.ts';

const boot = useLab({}, { start: false });

/** Idle tasks that switched themselves (klp_update_patch_state() in their loop) since event `from`. */
function idleSelfSwitches(lab: Lab, from: number): Array<{ cpu: number; state: number }> {
  return lab.k.log.events
    .slice(from)
    .filter((e) => e.type === 'klp_switch' && e.pid === 0)
    .map((e) => ({ cpu: e.cpu, state: e.b }));
}

/** The cpus whose idle task the host found running (so it could not check its stack). */
function idleRunning(lines: string[], cpus: number[]): number[] {
  return cpus.filter((c) => lines.includes(`livepatch: klp_try_switch_task: swapper/${c}:0 is running`));
}

describe('livepatch and cpu hotplug', () => {
  it('switches an offline idle task directly, and the cpu brought back runs the new code', async () => {
    const lab = await boot({ cpus: 4, workload: 'idle', seed: 1 });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const k = lab.k;
    const before = lab.cat('cmdline_proc_show');
    lab.startTest();
    lab.cpuDown(2);
    const parked = k.machine.cpus[2];
    const insns = parked.insns;
    const ev = k.log.events.length;

    lab.loadLpNowait('test_klp_livepatch');
    const idle2 = idleTask(k, 2);
    let seenSwitched = false;
    for (let rounds = 0; lab.lp.transitionPatch; rounds++) {
      expect(rounds).toBeLessThan(5_000);
      k.run({ rounds: 1 });
      if (lab.lp.transitionPatch && idle2.patchState === KLP_PATCHED) {
        // switched by the host while it sits in cpu_play_dead() with its vCPU halted
        expect(idle2.testTifFlag('TIF_PATCH_PENDING')).toBe(false);
        expect(parked.dead).toBe(true);
        seenSwitched = true;
      }
    }
    expect(seenSwitched).toBe(true);
    // the parked vCPU executed nothing while the transition ran: no switch point, no idle loop
    expect(parked.insns).toBe(insns);
    const selfSwitched = idleSelfSwitches(lab, ev);
    expect(selfSwitched.some((e) => e.cpu === 2)).toBe(false);
    // online idle tasks were running when the host tried them, and switched in their loop
    const lines = lab.logSinceStart();
    const running = idleRunning(lines, [0, 1, 3]);
    expect(running.length).toBeGreaterThanOrEqual(2);
    for (const c of running) expect(selfSwitched).toContainEqual({ cpu: c, state: KLP_PATCHED });
    expect(lines.filter((l) => !l.includes('klp_try_switch_task'))).toEqual([
      '% echo 0 > /sys/devices/system/cpu/cpu2/online',
      'smpboot: CPU 2 is now offline',
      '% modprobe test_klp_livepatch',
      "livepatch: enabling patch 'test_klp_livepatch'",
      ...['initializing patching transition', 'starting patching transition', 'completing patching transition', 'patching complete'].map(
        (s) => `livepatch: 'test_klp_livepatch': ${s}`,
      ),
    ]);

    lab.cpuUp(2);
    expect(parked.dead).toBe(false);
    for (const t of allTasks(k)) {
      expect(t.patchState, `${t}`).toBe(KLP_UNDEFINED);
      expect(t.testTifFlag('TIF_PATCH_PENDING'), `${t}`).toBe(false);
    }
    // the new code on the cpu that came back, read by a task moved there
    const hostd = [...k.forEachTask()].find((t) => t.comm === 'khostd')!;
    const evCat = k.log.events.length;
    expect(lab.cat('cmdline_proc_show', { cpu: 2 })).toBe('test_klp_livepatch: this has been live patched\n');
    expect(k.log.events.slice(evCat).some((e) => e.type === 'sched_migrate' && e.a === hostd.pid && e.c === 2)).toBe(true);
    expect(hostd.cpu).toBe(2);

    // and the way back, with every cpu online: the running idle tasks switch in their loop
    lab.startTest();
    const evOff = k.log.events.length;
    lab.disableLp('test_klp_livepatch');
    expect(lab.cat('cmdline_proc_show', { cpu: 2 })).toBe(before);
    const runningBack = idleRunning(lab.logSinceStart(), [0, 1, 2, 3]);
    expect(runningBack.length).toBeGreaterThanOrEqual(2);
    for (const c of runningBack) expect(idleSelfSwitches(lab, evOff)).toContainEqual({ cpu: c, state: KLP_UNPATCHED });
    lab.unloadLp('test_klp_livepatch');
  });
});
