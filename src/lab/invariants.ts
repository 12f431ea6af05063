// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch core's bookkeeping as it must be whenever the machine stops, read from guest
 * memory the way the guest reads it:
 *   - without a transition no task has a patch state or a pending flag, cond_resched() does not
 *     look, klp_target_state is KLP_UNDEFINED;
 *   - during one, once started, a task is pending exactly when its state is not the target
 *     (looked at, as the host does, with tasklist_lock free, and not while the transition
 *     completes or reverses);
 *   - every func_stack, read as the handler reads it, holds each patched func of its function
 *     and no other, one per patch, newest first; a func is patched with its object and in
 *     transition only in the patch in transition; an fentry site is a call while its function
 *     has a klp_ops; obj->mod follows its module;
 *   - sysfs lists exactly the installed patches; an enabled patch's module holds a reference;
 *   - once a transition has sent its fake signals, no user task still pending sleeps
 *     interruptibly as if it had never had one: neither TIF_SIGPENDING nor TIF_NOTIFY_SIGNAL
 *     and no signal it does not block queued (the fake signal was lost: nothing will wake it).
 * The random-session tests and the consistency checker both ask these questions here.
 */
import { allTasks, forEachTask, idleTask, type Task } from '../kernel/index.ts';
import { KLP_PATCHED, KLP_UNDEFINED } from '../livepatch/index.ts';
import type { Lab } from './selftest.ts';

/** A broken invariant: the checker's violation kind, what is wrong, and the tasks concerned. */
export interface InvariantProblem {
  kind: 'pending-at-rest' | 'pending-mismatch' | 'func-stack' | 'sysfs' | 'fake-signal-lost';
  message: string;
  tasks: Task[];
}

/**
 * klp_complete_transition() between resetting every task's state and dropping the transition:
 * the post-(un)patch callbacks run in the guest then, with the patch still in transition and
 * no task pending or with a state (as in the kernel).
 */
function completing(tasks: readonly Task[]): boolean {
  return tasks.every((t) => t.patchState === KLP_UNDEFINED && !t.testTifFlag('TIF_PATCH_PENDING'));
}

/** A task stopped inside klp_update_patch_state(), between its two writes, is mid-switch. */
function switchingItself(lab: Lab, t: Task): boolean {
  const cpu = t.currentOn();
  return cpu >= 0 && lab.k.image.symbolAt(lab.k.machine.cpus[cpu].rip)?.name === 'klp_update_patch_state';
}

/** Whether tasklist_lock is free: with it held a fork may be half-linked, and the host never looks then. */
export function tasklistFree(lab: Lab): boolean {
  return lab.k.mem.u32(lab.k.sym('tasklist_lock')) === 0;
}

/** The task states and pending flags: at rest none; in a transition pending <=> off the target. */
export function taskStateProblems(lab: Lab, tasks = allTasks(lab.k)): InvariantProblem[] {
  const { k, lp } = lab;
  const out: InvariantProblem[] = [];
  if (!lp.transitionPatch) {
    for (const t of tasks) {
      const pending = t.testTifFlag('TIF_PATCH_PENDING');
      if (t.patchState !== KLP_UNDEFINED || pending)
        out.push({
          kind: 'pending-at-rest',
          message: `${t} has ${pending ? 'TIF_PATCH_PENDING' : ''}${pending && t.patchState !== KLP_UNDEFINED ? ' and ' : ''}${t.patchState !== KLP_UNDEFINED ? `patch state ${t.patchState}` : ''} with no transition in progress`,
          tasks: [t],
        });
    }
    if (k.mem.u32(k.sym('klp_cond_resched_enabled')) !== 0)
      out.push({ kind: 'pending-at-rest', message: 'the cond_resched() switch is on with no transition in progress', tasks: [] });
    const target = k.mem.s32(k.sym('klp_target_state'));
    if (target !== KLP_UNDEFINED)
      out.push({ kind: 'pending-at-rest', message: `klp_target_state is ${target} with no transition in progress`, tasks: [] });
  } else if (lp.transition.started && tasklistFree(lab) && !completing(tasks)) {
    const target = lp.targetState;
    for (const t of tasks) {
      const pending = t.testTifFlag('TIF_PATCH_PENDING');
      if (pending === (t.patchState !== target) || switchingItself(lab, t)) continue;
      out.push({
        kind: 'pending-mismatch',
        message: `${t} is ${pending ? '' : 'not '}pending with patch state ${t.patchState} in the transition of '${lp.transitionPatch.name}' to ${target}`,
        tasks: [t],
      });
    }
  }
  return out;
}

interface RawTaskList {
  baseLo: number;
  baseHi: number;
  next: number;
  oState: number;
  oFlags: number;
  bit: number;
  head: number;
  end: number;
}
const rawLists = new WeakMap<Lab, RawTaskList>();

/** The task list's offsets as numbers, worked out once per lab. */
function rawTaskList(lab: Lab): RawTaskList {
  let r = rawLists.get(lab);
  if (r) return r;
  const k = lab.k;
  const L = k.layout;
  const base = k.mem.base;
  const tasks = L.offset('task_struct', 'tasks');
  r = {
    baseLo: Number(base & 0xffffffffn),
    baseHi: Number(base >> 32n),
    next: L.offset('list_head', 'next'),
    oState: L.offset('task_struct', 'patch_state') - tasks,
    oFlags: L.offset('task_struct', 'thread_info.flags') - tasks,
    bit: 1 << L.constant('TIF_PATCH_PENDING'),
    head: k.mem.offset(k.sym('init_task'), 1) + tasks,
    end: k.mem.size - 16,
  };
  rawLists.set(lab, r);
  return r;
}

/**
 * Whether taskStateProblems() might find a pending flag off during a transition: the same
 * question over raw guest memory, cheap enough to ask after every round of a transition (a
 * task wrong only for a moment, as in the fork race, is seen); whoever asks calls
 * taskStateProblems() for the details when the answer is yes.
 */
export function maybePendingMismatch(lab: Lab): boolean {
  const { k, lp } = lab;
  if (!lp.transitionPatch || !lp.transition.started || !tasklistFree(lab)) return false;
  const view = k.mem.view;
  const { baseLo, baseHi, next, oState, oFlags, bit, head, end } = rawTaskList(lab);
  const target = lp.targetState;
  let any = false;
  let odd = false;
  let node = head;
  for (let n = 0; n < 1_000_000; n++) {
    if (view.getUint32(node + next + 4, true) !== baseHi) return true; // let the careful walk say
    node = view.getUint32(node + next, true) - baseLo;
    if (node === head) break;
    if (node < 0 || node > end) return true;
    const state = view.getInt32(node + oState, true);
    const pending = (view.getUint32(node + oFlags, true) & bit) !== 0;
    if (state !== KLP_UNDEFINED || pending) any = true;
    if (pending === (state !== target)) continue;
    odd = true;
  }
  for (let cpu = 0; cpu < k.nrCpus; cpu++) {
    const idle = idleTask(k, cpu);
    if (idle.address === 0n) continue;
    const state = idle.patchState;
    const pending = idle.testTifFlag('TIF_PATCH_PENDING');
    if (state !== KLP_UNDEFINED || pending) any = true;
    if (pending !== (state !== target)) odd = true;
  }
  // every task without a state nor a flag: the transition is completing
  return odd && any;
}

/** Each func_stack as klp_ftrace_handler reads it, the fentry sites and obj->mod. */
export function funcStackProblems(lab: Lab): InvariantProblem[] {
  const { k, lp } = lab;
  const out: InvariantProblem[] = [];
  const bad = (message: string) => out.push({ kind: 'func-stack', message, tasks: [] });
  const seen = new Set<bigint>();
  let patched = 0;
  let stacked = 0;
  for (const p of lp.patches)
    for (const o of p.objs) {
      // klp_is_object_loaded(): obj->mod follows the module's coming and going
      const mod = o.name === null ? undefined : lab.modules.find(o.name);
      if (o.mod !== (mod?.guestStruct?.address ?? 0n)) bad(`${p.name} ${o.displayName}'s obj->mod does not follow its module`);
      for (const f of o.funcs) {
        const what = `${p.name} ${o.displayName}/${f}`;
        if (f.patched !== o.patched) bad(`${what} is ${f.patched ? '' : 'not '}patched while its object is ${o.patched ? '' : 'not'}`);
        // func->transition tells the handler to look at the task: only the patch in transition's
        if (f.transition && p !== lp.transitionPatch) bad(`${what} is in transition, but '${p.name}' is not the patch in transition`);
        if (!f.patched) continue;
        patched++;
        const ops = lp.patcher.findOps(f.oldFunc);
        if (!ops) {
          bad(`${what} is patched but its function has no klp_ops`);
          continue;
        }
        if (seen.has(f.oldFunc)) continue;
        seen.add(f.oldFunc);
        const stack = [...ops.funcStack()];
        stacked += stack.length;
        for (const s of stack) {
          if (!s.patched) bad(`${what}: ${s.object.patch.name}'s func on its func_stack is not patched`);
          if (s.oldFunc !== f.oldFunc) bad(`${what}: ${s.object.patch.name}'s func on its func_stack patches another function`);
        }
        // newest first: the handler takes the first func, of the youngest patch, one per patch
        const order = stack.map((s) => lp.patches.indexOf(s.object.patch));
        const want = [...new Set(order)].sort((a, b) => b - a);
        if (order.join() !== want.join())
          bad(`${what}: func_stack is not one func per patch, newest first (${stack.map((s) => s.object.patch.name).join(', ')})`);
        if (k.mem.u8(f.oldFunc) !== 0xe8) bad(`${what}: the fentry site of ${f.oldName} is not a call`);
      }
    }
  if (stacked !== patched) bad(`the func_stacks hold ${stacked} funcs, but ${patched} are patched`);
  return out;
}

/** sysfs lists exactly the installed patches; an enabled patch's module is held. */
export function sysfsProblems(lab: Lab): InvariantProblem[] {
  const lp = lab.lp;
  const out: InvariantProblem[] = [];
  const names = lp.patches.map((p) => `/sys/kernel/livepatch/${p.name}/`);
  const dirs = lp.sysfsTree().filter((l) => /^\/sys\/kernel\/livepatch\/[^/]+\/$/.test(l));
  if (dirs.join() !== names.join())
    out.push({ kind: 'sysfs', message: `sysfs lists [${dirs.join(', ')}], the patches are [${names.join(', ')}]`, tasks: [] });
  for (const p of lp.patches)
    if ((p.enabled || p === lp.transitionPatch) && !((lab.modules.find(p.name)?.refcount ?? 0) > 0))
      out.push({ kind: 'sysfs', message: `'${p.name}' is enabled but its module holds no reference`, tasks: [] });
  return out;
}

/**
 * A fake signal that was lost. A user task still pending after a round of fake signals was
 * sent one, and TIF_NOTIFY_SIGNAL, the signal since 8df1947c, stays set until the task goes
 * through the signal path on its way to user mode, where it switches first: it cannot sleep
 * interruptibly meanwhile (schedule() leaves a task with a signal pending runnable). One that
 * does, with no flag and no unblocked signal queued, lost it -- as TIF_SIGPENDING with nothing
 * queued was lost to the task's next recalc_sigpending() before 8df1947c -- and sleeps on
 * until a real signal comes, holding the transition up with the patched function on its stack.
 */
/** " in the patching transition of 'P'", or " at rest": when a report's finding was made. */
export function during(lab: Lab): string {
  const { lp } = lab;
  const P = lp.transitionPatch;
  return P ? ` in the ${lp.targetState === KLP_PATCHED ? 'patching' : 'unpatching'} transition of '${P.name}'` : ' at rest';
}

export function lostSignalProblems(lab: Lab): InvariantProblem[] {
  const { k, lp } = lab;
  const P = lp.transitionPatch;
  if (!P || !lp.transition.started || lp.transition.signalRounds === 0 || !tasklistFree(lab)) return [];
  const interruptible = k.layout.constant('TASK_INTERRUPTIBLE');
  const oPending = BigInt(k.layout.offset('task_struct', 'sig_pending'));
  const oBlocked = BigInt(k.layout.offset('task_struct', 'sig_blocked'));
  const out: InvariantProblem[] = [];
  for (const t of forEachTask(k)) {
    if (t.isKthread || !t.testTifFlag('TIF_PATCH_PENDING')) continue;
    // asleep: off its runqueue in an interruptible sleep (not one still on its way into it)
    if (!(t.state & interruptible) || t.onRq) continue;
    if (t.testTifFlag('TIF_SIGPENDING') || t.testTifFlag('TIF_NOTIFY_SIGNAL')) continue;
    if ((k.mem.u32(t.address + oPending) & ~k.mem.u32(t.address + oBlocked)) !== 0) continue;
    const v = lp.transition.switchVerdict(t, null);
    const on = !v.ok && v.why === 'sleeping on function' ? ` with ${v.func}() on its stack` : '';
    out.push({
      kind: 'fake-signal-lost',
      message: `${t} was sent a fake signal${during(lab)}, yet sleeps interruptibly${on}, still pending, with neither TIF_SIGPENDING nor TIF_NOTIFY_SIGNAL and no signal queued: the fake signal was lost`,
      tasks: [t],
    });
  }
  return out;
}

/** Every invariant above. */
export function invariantProblems(lab: Lab): InvariantProblem[] {
  return [...taskStateProblems(lab), ...funcStackProblems(lab), ...sysfsProblems(lab), ...lostSignalProblems(lab)];
}
