// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Behaviours from the history of kernel/livepatch/transition.c, each on real firmware (see
 * docs/history.md for which test shows which commit):
 *   67059d65 / ac59a471  no reliable stack traces: no task switches by a stack check, one
 *                        warning at enable, none per task
 *   383439d3             the task running the transition checks its own stack, not "running"
 *   e92606fa             running tasks check their own stacks in cond_resched(), several cpus at once
 *   5de62ea8             idle cpus are woken to pass their switch point
 *   842c0884             stacked patches: a task must not be in the previous patch's version
 *   29573083             forcing a patching transition does not pin the patch's module
 *   3ec24776             an enabled patch's module cannot go; a disabled one's can
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { idleTask, type Task } from '../../src/kernel/task.ts';
import { stackTraceSaveTskReliable } from '../../src/orc/unwind.ts';
import { KLP_PATCHED, KLP_UNDEFINED, KLP_UNPATCHED } from '../../src/livepatch/structs.ts';

const boot = useLab({}, { start: false });

const LP = 'test_klp_livepatch';
const pending = (t: Task) => t.testTifFlag('TIF_PATCH_PENDING');

describe('transition.c history on real firmware', () => {
  it('67059d65/ac59a471: without reliable stack traces only the switch points move tasks', async () => {
    const lab = await boot({ cpus: 2, workload: 'default', reliableStacktrace: false });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k, lp } = lab;
    k.runFor(300);
    lab.startTest();
    lab.loadLpNowait(LP);
    k.runFor(3000);
    expect(lp.sysfsRead(`/sys/kernel/livepatch/${LP}/transition`)).toBe('1');
    const tasks = [...k.forEachTask()];
    // kthreads never pass a switch point of their own: all still pending
    for (const t of tasks.filter((t) => t.isKthread && !t.isIdle)) {
      expect(t.patchState, `${t}`).toBe(KLP_UNPATCHED);
      expect(pending(t)).toBe(true);
    }
    // idle tasks switched in the idle loop, user tasks on their way back to user mode
    for (const t of tasks.filter((t) => t.isIdle)) expect(t.patchState, `${t}`).toBe(KLP_PATCHED);
    expect(tasks.filter((t) => !t.isKthread && t.patchState === KLP_PATCHED).length).toBeGreaterThan(3);
    const log = lab.logSinceStart();
    // the warning once, at enable; no per-task verdicts, as no stack was looked at
    // (the default workload's own printks may come in between: only the core's lines count)
    expect(log.filter((l) => l.startsWith('livepatch: ')).slice(0, 3)).toEqual([
      "livepatch: This architecture doesn't have support for the livepatch consistency model.",
      'livepatch: The livepatch transition may never complete.',
      `livepatch: enabling patch '${LP}'`,
    ]);
    expect(log.filter((l) => l.includes('klp_try_switch_task'))).toEqual([]);
    lp.sysfsWrite(`/sys/kernel/livepatch/${LP}/force`, '1');
    lab.waitForTransition(LP, 3000);
    expect(lab.cat('cmdline_proc_show')).toBe(`${LP}: this has been live patched\n`);
  }, 60_000);

  it('383439d3: the task doing the transition checks its own stack; 5de62ea8: idle cpus are woken', async () => {
    // HZ=1: a halted cpu would not see a timer tick for an emulated second
    const lab = await boot({ cpus: 4, workload: 'idle', hz: 1 });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k } = lab;
    const jiffies = () => k.mem.u64(k.sym('jiffies'));
    k.run({ ns: 2e9, until: () => k.machine.cpus.slice(1).every((c) => c.halted) });
    const j0 = jiffies();
    lab.startTest();
    lab.loadLpNowait(LP);
    const hostd = [...k.forEachTask()].find((t) => t.comm === 'khostd')!;
    // khostd ran the first pass and was current: it switched itself
    expect(hostd.patchState).toBe(KLP_PATCHED);
    expect(lab.logSinceStart().filter((l) => l.includes(`khostd:${hostd.pid} is running`))).toEqual([]);
    // the idle tasks of the halted cpus were "running"; they were woken and switched in their loop
    expect(lab.logSinceStart().filter((l) => /klp_try_switch_task: swapper\/[123]:0 is running/.test(l))).toHaveLength(3);
    k.runFor(2);
    expect(jiffies()).toBe(j0);
    for (let c = 0; c < 4; c++) expect(idleTask(k, c).patchState, `idle ${c}`).toBe(KLP_PATCHED);
    lab.waitForTransition(LP, 3000);
    for (const t of k.forEachTask()) expect(t.patchState).toBe(KLP_UNDEFINED);
  }, 60_000);

  it('e92606fa: running tasks check their own stacks in cond_resched(), on several cpus at once', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k } = lab;
    k.runFor(200);
    lab.startTest();
    lab.loadLpNowait('test_klp_probe');
    // khostd's first pass found the pinned probe threads running on their cpus: it could not
    // check them
    const wasRunning = [...k.forEachTask()].filter(
      (t) => t.comm.startsWith('kprobe/') && lab.logSinceStart().includes(`livepatch: klp_try_switch_task: ${t.comm}:${t.pid} is running`),
    );
    expect(wasRunning.length).toBeGreaterThan(1);
    // well before khostd's next pass (an emulated second away) they have switched: each in
    // its own cond_resched(), on its own cpu, the probe threads never sleeping nor leaving it
    const runningLines = () => lab.logSinceStart().filter((l) => l.endsWith(' is running')).length;
    const before = runningLines();
    k.runFor(100);
    expect(runningLines(), 'no pass of khostd in between').toBe(before);
    const switched = wasRunning.filter((t) => t.patchState === KLP_PATCHED);
    expect(new Set(switched.map((t) => t.comm)).size, switched.join()).toBeGreaterThan(1);
    lab.waitForTransition('test_klp_probe', 10_000);
  }, 60_000);

  it('842c0884: a stacked patch waits for tasks in the previous patch, not in the original', async () => {
    const lab = await boot({ cpus: 4, workload: 'default' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k, lp } = lab;
    k.runFor(300);
    lab.loadLpNowait('test_klp_deep');
    k.runFor(1500);
    // hold the kdeep threads in their waits: those asleep now stay in the original deep_c, the
    // others come round once more, through test_klp_deep's deep_c once forced, and wait there.
    // The pause comes when one of them is asleep in the wait itself (not in the msleep of an odd
    // round, nor just woken by kwaker): which ones are is a matter of kwaker's phase.
    const inWait = (t: Task) =>
      t.state === 1 && !stackTraceSaveTskReliable(k, t, 100).entries.some((e) => k.image.symbolAt(e)?.name === 'msleep');
    const deepThreads = () => [...k.forEachTask()].filter((t) => t.comm.startsWith('kdeep/'));
    expect(k.run({ ns: 1e9, until: () => deepThreads().some(inWait) }).untilMet).toBe(true);
    const paused = k.sym('deep_waker_paused');
    k.mem.setU32(paused, 1);
    lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/force', '1');
    lab.waitForTransition('test_klp_deep', 3000);
    k.runFor(150);
    const p1 = lab.modules.findSymbol('test_klp_deep', 'livepatch_deep_c', 0);
    const p1Size = BigInt(lab.modules.sizeAt(p1)!);
    const orig = k.sym('deep_c');
    const origSize = BigInt(k.image.symbolAt(orig)!.size);
    const inside = (t: Task, at: bigint, size: bigint) =>
      stackTraceSaveTskReliable(k, t, 100).entries.some((e) => e >= at && e < at + size);
    const kdeep = [...k.forEachTask()].filter((t) => t.comm.startsWith('kdeep/'));
    const inP1 = kdeep.filter((t) => inside(t, p1, p1Size));
    const inOrig = kdeep.filter((t) => inside(t, orig, origSize));
    // the scene: some threads asleep in each version
    expect(inP1.length).toBeGreaterThan(0);
    expect(inOrig.length).toBeGreaterThan(0);
    lab.startTest();
    lab.loadLpNowait('test_klp_deep2');
    // the first pass: those in the original deep_c switched, those in test_klp_deep's did not
    for (const t of inOrig) expect(t.patchState, `${t}`).toBe(KLP_PATCHED);
    for (const t of inP1) {
      expect(t.patchState, `${t}`).toBe(KLP_UNPATCHED);
      expect(lab.logSinceStart()).toContain(`livepatch: klp_try_switch_task: ${t.comm}:${t.pid} is sleeping on function deep_c`);
    }
    // and once they leave it, the new deep_c runs (deep_stats[6])
    k.mem.setU32(paused, 0);
    const stat6 = () => k.mem.u64(k.sym('deep_stats') + 48n);
    k.run({ ns: 20e9, until: () => !lp.transitionPatch });
    const s0 = stat6();
    k.runFor(300);
    expect(stat6()).toBeGreaterThan(s0);
  }, 60_000);

  it('29573083: forcing a patching transition leaves the module removable; 3ec24776: only once disabled', async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k, lp } = lab;
    const DEMO = 'test_klp_callbacks_demo';
    lab.loadMod('test_klp_callbacks_busy', { block_transition: 'Y' });
    lab.loadLpNowait(DEMO);
    k.runFor(1500);
    expect(lp.transitionPatch?.name).toBe(DEMO);
    lp.sysfsWrite(`/sys/kernel/livepatch/${DEMO}/force`, '1');
    lab.waitForTransition(DEMO, 3000);
    expect(lp.patch(DEMO).forced).toBe(false);
    // enabled: its module is in use
    expect(() => lab.unloadLp(DEMO)).toThrow(/in use/);
    // the work function returns; the unpatching transition completes on its own
    lab.setParam('test_klp_callbacks_busy', 'block_transition', 'N');
    lab.disableLp(DEMO);
    lab.unloadLp(DEMO);
    expect(lab.modules.isLoaded(DEMO)).toBe(false);
    lab.unloadMod('test_klp_callbacks_busy');
  }, 60_000);
});
