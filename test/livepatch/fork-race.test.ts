// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The race between fork and a transition that commit 747f7a29 fixed. copy_process() has a
 * reschedule point between duplicating the task and joining the task list, and cond_resched()
 * is a switch point: a pending parent can switch itself there. Before the fix (the boot quirk)
 * the child had already inherited TIF_PATCH_PENDING and then copied the parent's new state:
 * pending at the target. Nothing clears that flag for a kthread, the transition completes with
 * it ("still has TIF_PATCH_PENDING") and it stays behind. With the fix, decided under
 * tasklist_lock, no task is ever pending at the target or at rest off it.
 */
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/selftest.ts';
import { useLab } from '../helpers.ts';
import { allTasks, type Task } from '../../src/kernel/task.ts';

const QUIRK = 'KLP_QUIRK_FORK_RACE_747F7A29';
const SEEDS = [1, 2];

const boot = useLab({}, { start: false });

interface Inconsistent {
  task: string;
  pid: number;
  pending: boolean;
  state: number;
  target: number;
}

interface Run {
  inconsistent: Inconsistent[];
  /** parent pid of each fork during a transition, by child pid */
  forkedBy: Map<number, number>;
  warnings: string[];
  /** tasks still flagged pending once every transition was over */
  stale: string[];
  /** rounds after which every task was checked */
  checked: number;
}

/**
 * Tasks whose flag and state disagree (pending <=> patch_state != target) while a transition
 * runs, past its start; called with tasklist_lock free (no fork is joining the list). A task
 * stopped inside klp_update_patch_state(), between its two writes, is not looked at.
 */
function inconsistentTasks(l: Lab): Inconsistent[] {
  const k = l.k;
  const target = l.lp.targetState;
  const out: Inconsistent[] = [];
  for (const t of allTasks(k)) {
    const pending = t.testTifFlag('TIF_PATCH_PENDING');
    if (pending === (t.patchState !== target) || switchingItself(l, t)) continue;
    out.push({ task: t.toString(), pid: t.pid, pending, state: t.patchState, target });
  }
  return out;
}

function switchingItself(l: Lab, t: Task): boolean {
  const cpu = t.currentOn();
  return cpu >= 0 && l.k.image.symbolAt(l.k.machine.cpus[cpu].rip)?.name === 'klp_update_patch_state';
}

/**
 * Runs until the transition is over, checking every task after every round once it started;
 * `seen` is where the log stood before the command that began it.
 */
function watchTransition(l: Lab, run: Run, seen: number): void {
  const k = l.k;
  let started = false;
  for (let rounds = 0; l.lp.transitionPatch; rounds++) {
    expect(rounds).toBeLessThan(20_000);
    const events = k.log.events;
    for (; seen < events.length; seen++) {
      const e = events[seen];
      if (e.type === 'fork') run.forkedBy.set(e.b, e.a);
      if (e.type !== 'printk') continue;
      if (e.text.startsWith('WARNING: livepatch: ')) run.warnings.push(e.text);
      if (!e.text.startsWith('livepatch: ')) continue;
      if (/': starting \w+ transition$/.test(e.text)) started = true;
      if (/': (initializing|completing) \w+ transition$/.test(e.text)) started = false;
    }
    if (started && l.k.mem.u32(l.k.sym('tasklist_lock')) === 0) {
      run.checked++;
      for (const bad of inconsistentTasks(l)) if (!run.inconsistent.some((b) => b.pid === bad.pid)) run.inconsistent.push(bad);
    }
    k.run({ rounds: 1 });
  }
  for (const e of k.log.events.slice(seen)) if (e.type === 'printk' && e.text.startsWith('WARNING: livepatch: ')) run.warnings.push(e.text);
}

/** The fork workload through a patching and an unpatching transition. */
async function forkDuringTransitions(seed: number, quirk: boolean): Promise<{ lab: Lab; run: Run }> {
  const l = await boot({ cpus: 4, workload: 'fork', seed, quirks: quirk ? [QUIRK] : [] });
  l.k.runFor(200);
  const run: Run = { inconsistent: [], forkedBy: new Map(), warnings: [], stale: [], checked: 0 };
  let mark = l.k.log.events.length;
  l.loadLpNowait('test_klp_livepatch');
  watchTransition(l, run, mark);
  mark = l.k.log.events.length;
  l.logCmd('echo 0 > /sys/kernel/livepatch/test_klp_livepatch/enabled');
  l.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_livepatch/enabled', '0');
  watchTransition(l, run, mark);
  run.stale = allTasks(l.k)
    .filter((t) => t.testTifFlag('TIF_PATCH_PENDING'))
    .map((t) => t.toString());
  l.unloadLp('test_klp_livepatch');
  return { lab: l, run };
}

describe('fork during a transition (747f7a29)', () => {
  it.each(SEEDS)('with the pre-fix quirk, a child ends up pending at the target (seed %i)', async (seed) => {
    const { lab, run } = await forkDuringTransitions(seed, true);
    const kforker = [...lab.k.forEachTask()].find((t) => t.comm === 'kforker/0')!;
    // a kthread forked by kforker, pending although it already has the target state
    expect(run.checked).toBeGreaterThan(300);
    const racy = run.inconsistent.filter((b) => b.pending && b.state === b.target);
    // a user forker's child may race the same way, but its first return to user mode switches
    // it and clears the flag: only kthreads keep it
    for (const b of racy) expect(b.task).toMatch(/^(kchild\/|uchild:)/);
    const kthreads = racy.filter((b) => b.task.startsWith('kchild/'));
    expect(kthreads.length).toBeGreaterThan(0);
    expect(kthreads.some((b) => run.forkedBy.get(b.pid) === kforker.pid)).toBe(true);
    // the transition completes all the same, with the kernel's warning for it
    for (const b of kthreads) expect(run.warnings).toContain(`WARNING: livepatch: ${b.task} still has TIF_PATCH_PENDING`);
    for (const b of racy) if (!kthreads.includes(b)) expect(run.stale).not.toContain(b.task);
    expect(run.warnings.length).toBeGreaterThan(0);
    expect(run.warnings.every((w) => w.endsWith(' still has TIF_PATCH_PENDING') && w.includes(' kchild/'))).toBe(true);
    // and once it is over, the flag is still there
    expect(run.stale.some((t) => kthreads.some((b) => b.task === t))).toBe(true);
  });

  it.each(SEEDS)('with the fix, no task is ever inconsistent and nothing warns (seed %i)', async (seed) => {
    const { lab, run } = await forkDuringTransitions(seed, false);
    // the same forks went on meanwhile: kforker's kthreads and the user forkers' children
    const kforker = [...lab.k.forEachTask()].find((t) => t.comm === 'kforker/0')!;
    const parents = new Set(run.forkedBy.values());
    expect(parents.has(kforker.pid)).toBe(true);
    expect(parents.size).toBeGreaterThan(1);
    expect(run.forkedBy.size).toBeGreaterThan(20);
    expect(run.checked).toBeGreaterThan(300);
    expect(run.inconsistent).toEqual([]);
    expect(run.warnings).toEqual([]);
    expect(run.stale).toEqual([]);
  });

  it('refuses a quirk the image does not have', async () => {
    await expect(boot({ quirks: ['KLP_QUIRK_NOPE'] })).rejects.toThrow(
      /unknown quirk 'KLP_QUIRK_NOPE': the image has KLP_QUIRK_FORK_RACE_747F7A29/,
    );
  });
});
