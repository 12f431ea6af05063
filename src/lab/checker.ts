// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The consistency checker: watches one lab's run and reports the first way it breaks the
 * livepatch consistency model, from what the guest really executes and not only from the
 * core's bookkeeping (violation.ts is the contract with whoever drives the run).
 *
 * What it watches (code-watch.ts): the entry of every body a patched function can run -- its
 * original code past the fentry site, and each func's new code -- recorded by the native block
 * hook with the task that ran it and that task's patch state at that moment. Each entry is
 * judged against the model, with the func_stacks read from guest memory:
 *   - at rest a call runs the newest func on its function's func_stack (or the original code);
 *     during a transition a task still UNPATCHED runs what it ran before the patch in
 *     transition, any other task what the patch brings. Otherwise 'new-code-while-unpatched'
 *     or 'old-code-while-patched' (which of the two: whether the body that ran is newer or
 *     older than the one the model gives the task).
 *   - a task switches only when none of the transition patch's functions is on its stack, and
 *     never back: entering code of one state with a frame of the other state's code still on
 *     its stack, or code of the initial state after code of the target state, is
 *     'mixed-states'. Frames are known from the stack pointer at each entry (a body entered at
 *     sp is on the stack while later entries are deeper); a body that leaves by a tail call
 *     cannot be followed so, and is not held against a task.
 * When a change of the patches leaves the system at rest, no task may still have a frame of a
 * body the model no longer gives anyone (it would return into it; 'old-code-while-patched' or
 * 'new-code-while-unpatched'), and a patch disabled without being forced must have released
 * its module ('unload-blocked').
 * What it reads when the machine stops (invariants.ts): no pending flag or patch state at rest,
 * pending exactly when off the target in a transition (after every round of a transition, so a
 * task that is briefly wrong is seen), no fake signal lost (after every round once the
 * transition has sent them), every func_stack as the handler reads it, sysfs; no
 * WARNING, oops or lost cpu in the log's counters ('warning', 'oops', 'lockup'); and a
 * transition still running after `stallMs` is a 'stall' naming each task that blocks it, what
 * keeps it, and its stack.
 *
 * A forced transition lets tasks mix states by the user's decision: after a force, the rest of
 * that transition is not held against anyone's frames (the entries still are).
 */
import { disassemble } from '../emu/index.ts';
import { allTasks, cpuCurr, Task } from '../kernel/index.ts';

import { orcUnwinder, taskStack } from '../orc/index.ts';
import type { KlpFunc } from '../livepatch/index.ts';
import { CodeWatch, type CodeHit } from './code-watch.ts';
import {
  during,
  invariantProblems,
  lostSignalProblems,
  maybePendingMismatch,
  taskStateProblems,
  type InvariantProblem,
} from './invariants.ts';
import { taskPatchState } from './patch-states.ts';
import type { Lab } from './selftest.ts';
import type { CheckerFactory, LabChecker, Violation, ViolationTask } from './violation.ts';

const KLP_UNPATCHED = 0;
const KLP_PATCHED = 1;

export interface CheckerOptions {
  /** A transition still running after this many emulated ms is a stall (default 60000, `wait:`'s default). */
  stallMs?: number;
}

/** A body a patched function can run: its original code, or a func's new code. */
interface Body {
  /** RAM offset of the entry that is watched. */
  at: number;
  /** The function it stands for (old_func) and its name. */
  fn: bigint;
  name: string;
  /** The patch whose new code it is, or null for the original code (a nop's too). */
  patch: string | null;
  /** How new it is: 0 for the original, else the order in which the checker first saw its patch. */
  seq: number;
  /** It may leave by a tail call: its frame cannot be followed by the stack pointer. */
  tail: boolean;
  /** The whole function, [lo, hi) as RAM offsets: a return address there is a frame of it. */
  lo: number;
  hi: number;
}

/** What one patched function runs, as the model says. */
interface FuncVersions {
  /** The newest func on its func_stack, or the original. */
  top: Body;
  /** For a function of the patch in transition: its code in the two states. */
  target?: { patched: Body; unpatched: Body };
}

/** What the checker keeps of a task during one transition. */
interface TaskTrace {
  pid: number;
  /** Bodies of the transition patch's functions the task is inside, outermost first. */
  live: Array<{ sp: number; body: Body; patched: boolean }>;
  /** The first body of the target state it ran, if any. */
  target?: Body;
}

const stateName = (s: number) => (s === KLP_PATCHED ? 'PATCHED' : s === KLP_UNPATCHED ? 'UNPATCHED' : 'UNDEFINED');

export class ConsistencyChecker implements LabChecker {
  /** Entries of watched bodies judged so far, and how many of them were in a transition. */
  readonly seen = { entries: 0, inTransition: 0 };
  /** Times the hit ring filled mid-quantum (each stopped the quantum to be read). */
  get ringFills(): number {
    return this.watch.fills;
  }
  private readonly watch: CodeWatch;
  private readonly bodies = new Map<number, Body>();
  /** Bodies no func_stack holds any more, watched until their module goes. */
  private readonly retired = new Map<number, Body>();
  private readonly funcs = new Map<bigint, FuncVersions>();
  private readonly patchSeq = new Map<object, number>();
  private readonly tailCache = new Map<string, boolean>();
  private readonly traces = new Map<number, TaskTrace>();
  /** What the last rebuild read: func_stack changes, patches, transition, forces. */
  private state = '';
  /** The transition patch's bodies the traces follow, as last seeded. */
  private targets = '';
  /** The transition the traces belong to: patch and target, and whether it was forced. */
  private epoch = '';
  private excused = false;
  /** Tasks seen entering a body since the last force (their first entry may be decided before it). */
  private readonly sinceForce = new Set<number>();
  private forces: number;
  private transitionSince = 0;
  /** Every patch the checker has seen registered, by name (its module is a patch module). */
  private readonly patchNames = new Set<string>();
  /**
   * The patches a forced transition left with code that may still run, as the model says:
   * the patch forced back to unpatched, or those a forced replace patch supersedes. Only
   * their modules may keep their reference once they are disabled.
   */
  private readonly mustKeep = new Set<string>();
  private readonly stallNs: number;
  private readonly baseline: { warnings: number; oopses: number; panics: number; lostCpus: number };
  private first?: Violation;
  /**
   * The user tasks the transition's last round of fake signals went to that have not switched
   * since, by pid, and where in the log their story goes on (the log's cursor after the round).
   */
  private signalled = new Set<number>();
  private signalCursor = 0;
  private readonly undo: Array<() => void> = [];

  constructor(
    private readonly lab: Lab,
    opts: CheckerOptions,
  ) {
    const k = lab.k;
    const m = k.machine;
    this.stallNs = (opts.stallMs ?? 60_000) * 1e6;
    const c = k.log.counters();
    this.baseline = { warnings: c.warnings, oopses: c.oopses, panics: c.panics, lostCpus: c.lostCpus };
    this.forces = lab.lp.transition.forces;
    this.watch = new CodeWatch(k, (hits) => this.judge(hits));
    const hook = <T>(list: T[], fn: T) => {
      list.push(fn);
      this.undo.push(() => list.splice(list.indexOf(fn), 1));
    };
    hook(m.beforeHostCall, () => this.watch.read());
    hook(m.afterHostCall, () => {
      this.rebuild(false);
      // a stack check's switch leaves no event: what came before it is read first
      if (this.signalled.size) this.followSignalled();
    });
    hook(lab.lp.transition.afterSignals, () => this.noteSignals());
    // first among the round's hooks would be nicer, but the order does not matter: every hook
    // that changes livepatch state does so through a host call
    // the checker's state is the host's and changes every round: no checkpoint is restored under it
    hook(m.afterRound, () => {
      m.noteHostEffect();
      this.afterRound();
    });
    this.undo.push(lab.modules.onGoing((mod) => this.moduleGoing(mod.name)));
    this.rebuild();
  }

  // --- what the model says -----------------------------------------------------------------

  private seqOf(patch: object): number {
    let s = this.patchSeq.get(patch);
    if (s === undefined) this.patchSeq.set(patch, (s = this.patchSeq.size + 1));
    return s;
  }

  /** Whether the code at [start, start + size) has a jmp out of itself (a tail call) or an indirect one. */
  private tailCalls(start: bigint, size: number): boolean {
    const key = `${start}:${size}`;
    let t = this.tailCache.get(key);
    if (t === undefined) {
      t = false;
      const end = start + BigInt(size);
      for (const i of disassemble(this.lab.k.mem.bytes(start, size), start)) {
        if (!i.mnemonic.startsWith('j')) continue;
        const to = /^0x[0-9a-f]+$/.test(i.opStr) ? BigInt(i.opStr) : undefined;
        if (to === undefined || (i.mnemonic === 'jmp' && (to < start || to >= end))) t = true;
      }
      this.tailCache.set(key, t);
    }
    return t;
  }

  private original(fn: bigint, name: string, size: number): Body {
    const k = this.lab.k;
    // past the fentry site: where the trampoline's iretq goes back to when the handler left ip alone
    const lo = k.mem.offset(fn, 1);
    return { at: lo + 5, fn, name, patch: null, seq: 0, tail: this.tailCalls(fn, size), lo, hi: lo + size };
  }

  /**
   * Reads the func_stacks and the transition anew (after every host call: only host code
   * changes them), and watches every body they can send a task to.
   */
  private rebuild(always = true): void {
    const { k, lp } = this.lab;
    const P = lp.transitionPatch;
    // most host calls (a cond_resched() switch, a WARN) change none of it
    const state = `${lp.patcher.generation}:${lp.patches.length}:${P ? this.seqOf(P) : 0}:${lp.targetState}:${lp.transition.forces}`;
    if (!always && state === this.state) return;
    const changed = state !== this.state;
    this.state = state;
    const epoch = P ? `${this.seqOf(P)}:${lp.targetState}` : '';
    if (epoch !== this.epoch) {
      this.traces.clear();
      this.signalled.clear();
      this.targets = '';
      this.excused = false;
      if (P && !this.epoch) this.transitionSince = k.machine.clockNs;
      this.epoch = epoch;
    }
    if (lp.transition.forces !== this.forces) {
      this.forces = lp.transition.forces;
      this.excused = true;
      this.sinceForce.clear();
      if (P && lp.targetState === KLP_UNPATCHED) this.mustKeep.add(P.name);
      else if (P?.replace) for (const p of lp.patches) if (p !== P) this.mustKeep.add(p.name);
    }
    for (const p of lp.patches) this.patchNames.add(p.name);
    const before = new Map(this.bodies);
    this.bodies.clear();
    this.funcs.clear();
    for (const p of lp.patches)
      for (const o of p.objs)
        for (const f of o.funcs) {
          if (!f.patched || this.funcs.has(f.oldFunc)) continue;
          const ops = lp.patcher.findOps(f.oldFunc);
          if (!ops) continue;
          const orig = this.original(f.oldFunc, f.oldName, f.oldSize);
          const body = (s: typeof f): Body => (s.nop ? orig : this.newBody(s));
          const stack = [...ops.funcStack()];
          const bodies = stack.map(body);
          const v: FuncVersions = { top: bodies[0] ?? orig };
          const mine = P && stack.find((s) => s.object.patch === P);
          if (P && stack[0]?.object.patch === P) v.target = { patched: bodies[0], unpatched: bodies[1] ?? orig };
          else if (mine) v.target = { patched: body(mine), unpatched: v.top };
          this.funcs.set(f.oldFunc, v);
          for (const b of [orig, ...bodies]) this.bodies.set(b.at, b);
        }
    // a transition patch's funcs not on a stack yet (init) or any more (unpatching completes)
    if (P)
      for (const o of P.objs)
        for (const f of o.funcs) {
          const v = this.funcs.get(f.oldFunc);
          if (!v || v.target || f.nop || !f.newFunc) continue;
          const b = this.newBody(f);
          v.target = { patched: b, unpatched: v.top };
          this.bodies.set(b.at, b);
        }
    for (const [at, b] of before) if (!this.bodies.has(at) && b.patch !== null) this.retired.set(at, b);
    for (const at of this.bodies.keys()) this.retired.delete(at);
    this.watch.set([...this.bodies.keys(), ...this.retired.keys()]);
    if (!P && changed) this.atRest();
    const targets = [...this.funcs.values()].flatMap((v) => (v.target ? [v.target.patched.at, v.target.unpatched.at] : [])).join();
    if (targets !== this.targets) {
      this.targets = targets;
      if (targets) this.seed();
    }
  }

  /**
   * Checks made when a change of the patches leaves the system at rest. A transition completes
   * only once no task has code of the state it leaves on its stack, so no task may be inside a
   * body the model no longer gives anyone (a frame it would return into: the stack check an
   * immediate patch skips). And a patch disabled through the consistency model releases its
   * module: only a forced transition's patches keep it ('unload-blocked').
   */
  private atRest(): void {
    const { k, lp } = this.lab;
    const live = new Set(lp.patches.map((p) => p.name));
    for (const name of this.patchNames) {
      if (live.has(name)) continue;
      const mod = this.lab.modules.find(name);
      if (!mod) this.patchNames.delete(name);
      else if (mod.refcount > 0 && !this.mustKeep.has(name))
        this.report(
          'unload-blocked',
          `the module of patch '${name}', disabled without a forced transition, still holds ${mod.refcount} reference(s): rmmod is refused`,
          [],
        );
    }
    // a forced task may stay in old code for good: that is why the forced patch's module stays
    if (lp.transition.forces) return;
    const stale: Body[] = [...this.retired.values()];
    for (const v of this.funcs.values()) for (const b of this.bodies.values()) if (b.fn === v.top.fn && b.at !== v.top.at) stale.push(b);
    if (!stale.length) return;
    const u = orcUnwinder(k);
    for (const t of allTasks(k)) {
      u.unwindTask(u.offset(t.address), 100);
      for (let i = 0; i < u.count - 1; i++) {
        const ip = u.exact[i] ? u.entries[i] : u.entries[i] - 1;
        // an original is entered past its fentry site: a task at or in that call has not entered it
        const b = stale.find((s) => ip >= (s.patch === null ? s.at : s.lo) && ip < s.hi);
        if (!b) continue;
        const top = this.funcs.get(b.fn)?.top;
        const kind = b.seq > (top?.seq ?? 0) ? 'new-code-while-unpatched' : 'old-code-while-patched';
        this.report(kind, `${t.comm}:${t.pid} is inside ${this.what(b)}${during(this.lab)}, after the transition completed`, [t]);
        return;
      }
    }
  }

  private newBody(f: KlpFunc): Body {
    const lo = this.lab.k.mem.offset(f.newFunc, 1);
    return {
      at: lo,
      fn: f.oldFunc,
      name: f.oldName,
      patch: f.object.patch.name,
      seq: this.seqOf(f.object.patch),
      tail: this.tailCalls(f.newFunc, f.newSize),
      lo,
      hi: lo + f.newSize,
    };
  }

  /**
   * The frames of the transition patch's bodies that tasks were already inside when the
   * checker began to follow them (entered before the patch or the checker came): read from
   * each task's stack, with ORC, once, as the bodies to follow change.
   */
  private seed(): void {
    const k = this.lab.k;
    const u = orcUnwinder(k);
    const bodies: Array<{ body: Body; patched: boolean }> = [];
    for (const v of this.funcs.values())
      if (v.target) bodies.push({ body: v.target.patched, patched: true }, { body: v.target.unpatched, patched: false });
    for (const t of allTasks(k)) {
      const off = u.offset(t.address);
      u.unwindTask(off, 100);
      const live: TaskTrace['live'] = [];
      for (let i = u.count - 2; i >= 0; i--) {
        const ip = u.exact[i] ? u.entries[i] : u.entries[i] - 1;
        const hit = bodies.find((b) => ip >= b.body.lo && ip < b.body.hi);
        if (hit) live.push({ sp: u.callerSp[i] - 8, ...hit });
      }
      const tr = this.traces.get(off);
      if (tr && tr.pid === t.pid) tr.live = live;
      else this.traces.set(off, { pid: t.pid, live });
    }
  }

  /** A module goes: its code may be reused, so none of it is watched any more. */
  private moduleGoing(name: string): void {
    this.watch.read();
    const mods = this.lab.modules;
    for (const [at, b] of this.retired)
      if (mods.moduleAt(this.watch.address(at))?.name === name || b.patch === name) this.retired.delete(at);
    this.rebuild();
  }

  // --- judging what ran --------------------------------------------------------------------

  private judge(hits: readonly CodeHit[]): void {
    for (const h of hits) {
      const body = this.bodies.get(h.at) ?? this.retired.get(h.at);
      if (!body || !h.task) continue;
      this.seen.entries++;
      if (this.epoch) this.seen.inTransition++;
      const v = this.funcs.get(body.fn);
      const want = v ? (v.target && h.state === KLP_UNPATCHED ? v.target.unpatched : v.top) : undefined;
      const expected = want ?? this.original(body.fn, body.name, 1);
      // a task forced between the handler's decision and the body it chose runs its old state's
      // code once, in either direction
      const forced =
        this.excused && !this.sinceForce.has(h.task) && v?.target && (body.at === v.target.unpatched.at || body.at === v.target.patched.at);
      if (this.excused) this.sinceForce.add(h.task);
      if (expected.at !== body.at && !forced) {
        const kind = body.seq > expected.seq ? 'new-code-while-unpatched' : 'old-code-while-patched';
        this.report(
          kind,
          `${this.who(h)} ran ${this.what(body)} with patch state ${stateName(h.state)}${during(this.lab)}; the model gives it ${this.what(expected)}`,
          [h.task],
        );
      }
      if (v?.target && !this.excused) this.follow(h, body, v.target);
    }
  }

  /** The frames and the order of one task's bodies of the patch in transition ('mixed-states'). */
  private follow(h: CodeHit, body: Body, target: { patched: Body; unpatched: Body }): void {
    const patched = body.at === target.patched.at;
    if (!patched && body.at !== target.unpatched.at) return;
    let t = this.traces.get(h.task);
    if (!t || t.pid !== h.pid) this.traces.set(h.task, (t = { pid: h.pid, live: [] }));
    // the bodies entered at or below this entry's stack pointer have returned
    while (t.live.length && t.live[t.live.length - 1].sp <= h.sp) t.live.pop();
    const other = t.live.find((f) => f.patched !== patched && !f.body.tail);
    if (other)
      this.report(
        'mixed-states',
        `${this.who(h)} entered ${this.what(body)} with ${this.what(other.body)} still on its stack${during(this.lab)}`,
        [h.task],
      );
    const toTarget = patched === (this.lab.lp.targetState === KLP_PATCHED);
    if (t.target && !toTarget)
      this.report('mixed-states', `${this.who(h)} ran ${this.what(body)} after ${this.what(t.target)}${during(this.lab)}`, [h.task]);
    if (toTarget) t.target ??= body;
    t.live.push({ sp: h.sp, body, patched });
  }

  private who(h: CodeHit): string {
    return `${this.task(h.task).comm}:${h.pid} (cpu ${h.cpu})`;
  }

  private what(b: Body): string {
    return b.patch === null ? `the original ${b.name}()` : `${b.name}() of '${b.patch}'`;
  }

  private task(offset: number): Task {
    return new Task(this.lab.k, this.watch.address(offset));
  }

  // --- reporting ---------------------------------------------------------------------------

  private viewTask(t: Task): ViolationTask {
    const k = this.lab.k;
    const out: ViolationTask = { pid: t.pid, comm: t.comm };
    try {
      const s = taskStack(k, t, { sym: this.lab.modules.symbolizer });
      out.stack = s.reliable ? s.trace : [...s.trace, `(unreliable: ${s.unreliable})`];
    } catch {
      // a task that is gone or half made has no stack to show
    }
    return out;
  }

  private report(kind: string, message: string, tasks: Array<number | Task>): void {
    if (this.first) return;
    this.first = {
      kind,
      message,
      tsNs: this.lab.k.machine.clockNs,
      tasks: tasks.map((t) => this.viewTask(typeof t === 'number' ? this.task(t) : t)),
    };
  }

  private problem(p: InvariantProblem | undefined): void {
    if (p) this.report(p.kind, p.message, p.tasks);
  }

  // --- the checks when the machine stops ---------------------------------------------------

  private afterRound(): void {
    this.watch.read();
    if (this.first) return;
    const lp = this.lab.lp;
    if (!lp.transitionPatch) return;
    if (maybePendingMismatch(this.lab)) this.problem(taskStateProblems(this.lab)[0]);
    if (this.signalled.size) this.followSignalled();
    if (this.lab.k.machine.clockNs - this.transitionSince > this.stallNs) this.stall();
  }

  /**
   * Right after a round of fake signals (no other vCPU has run since the guest's walk): every
   * user task still pending was sent one.
   */
  private noteSignals(): void {
    if (!this.lab.lp.transitionPatch) return;
    this.signalled = new Set(
      allTasks(this.lab.k)
        .filter((t) => !t.isKthread && !t.isIdle && t.testTifFlag('TIF_PATCH_PENDING'))
        .map((t) => t.pid),
    );
    this.signalCursor = this.lab.k.log.cursor();
  }

  /**
   * What the tasks sent a fake signal did since: one that switched is done with; one that
   * went to sleep interruptibly before it switched had no signal pending any more (schedule()
   * leaves a task with one runnable): it lost its fake signal ('fake-signal-lost'). A sleep is
   * told from a preemption in the middle of going to sleep by the wakeup that ends it (only a
   * task off its runqueue is woken) or, if none came yet, by the task still asleep; a lost
   * signal whose sleep ends within the round is still seen.
   */
  private followSignalled(): void {
    const { k } = this.lab;
    if (!this.lab.lp.transitionPatch) {
      this.signalled.clear();
      return;
    }
    const interruptible = k.layout.constant('TASK_INTERRUPTIBLE');
    const slept = new Set<number>();
    let lost: number | undefined;
    const events = k.log.since(this.signalCursor);
    this.signalCursor += events.length;
    for (const e of events) {
      if (e.type === 'klp_switch' || e.type === 'exit') {
        this.signalled.delete(e.a);
        slept.delete(e.a);
      } else if (e.type === 'sched_switch' && this.signalled.has(e.a) && e.c & interruptible) slept.add(e.a);
      else if (e.type === 'sched_wakeup' && slept.has(e.a)) lost ??= e.a;
    }
    if (lost === undefined) {
      const problem = lostSignalProblems(this.lab).find((p) => slept.has(p.tasks[0].pid) || this.signalled.has(p.tasks[0].pid));
      if (problem) return this.problem(problem);
      // the tasks the host switched (a stack check leaves no event) are done with too
      const still = new Set(
        allTasks(k)
          .filter((t) => t.testTifFlag('TIF_PATCH_PENDING'))
          .map((t) => t.pid),
      );
      for (const pid of this.signalled) if (!still.has(pid)) this.signalled.delete(pid);
      return;
    }
    const t = allTasks(k).find((x) => x.pid === lost);
    this.report(
      'fake-signal-lost',
      `${t?.comm ?? '?'}:${lost} was sent a fake signal${during(this.lab)}, and went to sleep interruptibly before it switched, with no signal pending any more: the fake signal was lost (a real signal woke it)`,
      t ? [t] : [],
    );
  }

  private stall(boundNs = this.stallNs): void {
    const lp = this.lab.lp;
    // every task still off the target, by its task_struct (idle tasks all have pid 0); one that
    // could switch now still holds the transition until something makes it pass a switch point
    const left = allTasks(this.lab.k)
      .map((t) => ({ t, s: taskPatchState(this.lab, t, { stacks: false }) }))
      .filter(({ s }) => s.blocked);
    const blocking = left.filter(({ s }) => s.blocked !== 'can switch now');
    const shown = blocking.length ? blocking : left;
    const tasks = shown.map(({ t }) => t);
    const why = shown.map(({ s }) => `${s.comm}:${s.pid} ${s.blocked}`).join(', ');
    this.report(
      'stall',
      `the ${lp.targetState === KLP_PATCHED ? 'patching' : 'unpatching'} transition of '${lp.transitionPatch!.name}' has not completed in ${boundNs / 1e6} emulated ms: ${why || 'every task has switched, its next pass has not come'}`,
      tasks,
    );
  }

  /** WARNINGs, oopses and lost cpus since the checker was attached. */
  private health(): void {
    const c = this.lab.k.log.counters();
    const b = this.baseline;
    if (c.lostCpus > b.lostCpus || c.oopses > b.oopses || c.panics > b.panics) {
      // the task that was current where it happened (a current task counts as running there)
      const curr = c.lastStopCpu !== undefined ? cpuCurr(this.lab.k, c.lastStopCpu) : undefined;
      const who = curr ? ` on cpu ${c.lastStopCpu} in ${curr.comm} (pid ${curr.pid})` : '';
      const tasks = curr ? [curr] : [];
      if (c.lostCpus > b.lostCpus)
        this.report('lockup', `a cpu was lost${who}: halted with interrupts off while online (hard LOCKUP)`, tasks);
      else
        this.report('oops', `the guest ${c.panics > b.panics ? 'panicked' : 'oopsed'}${who}${c.lastStop ? `: ${c.lastStop}` : ''}`, tasks);
    }
    if (c.warnings > b.warnings) {
      const text = c.firstWarnings[b.warnings] ?? c.lastWarning ?? 'WARNING';
      this.report('warning', `${c.warnings - b.warnings} WARNING(s) in the kernel log, the first: ${text}`, []);
    }
  }

  poll(): Violation | undefined {
    if (this.first) return this.first;
    this.watch.read();
    // whoever drove the machine since may have changed guest memory without a host call
    this.rebuild();
    this.health();
    if (!this.first) for (const p of invariantProblems(this.lab)) this.problem(p);
    if (!this.first && this.lab.lp.transitionPatch && this.lab.k.machine.clockNs - this.transitionSince > this.stallNs) this.stall();
    return this.first;
  }

  stalled(ms: number): Violation | undefined {
    if (this.poll()) return this.first;
    if (this.lab.lp.transitionPatch) this.stall(ms * 1e6);
    return this.first;
  }

  finish(): Violation | undefined {
    return this.poll();
  }

  detach(): void {
    this.watch.close();
    for (const u of this.undo.splice(0).reverse()) u();
  }
}

/** Attaches the consistency checker to a lab (violation.ts's CheckerFactory). */
export const attachConsistencyChecker: CheckerFactory = (lab) => new ConsistencyChecker(lab, {});

/** The same, with options (a shorter stall bound for a test). */
export function attachChecker(lab: Lab, opts: CheckerOptions = {}): ConsistencyChecker {
  return new ConsistencyChecker(lab, opts);
}
