// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A session's event log as a timeline in Chrome's JSON Trace Event Format, which
 * ui.perfetto.dev, chrome://tracing, speedscope and the DevTools performance panel read. Every
 * slice comes from a record of the log (src/kernel/events.ts: the guest's scheduler, fork,
 * exit, signal, cpu and EV_KLP_SWITCH records; the host's livepatch, module and sysfs records
 * of src/livepatch/events.ts), at the guest's emulated time: nothing is sampled at the end and
 * drawn backwards.
 *
 * The tracks:
 *   process "vCPUs"      a thread per cpu: the task it runs, "idle", "offline", and each
 *                        interrupt nested in it ("timer", "resched IPI", ...)
 *   process "livepatch"  transitions (one slice each, its phases inside), the passes of
 *                        klp_try_complete_transition, fake signals and force, callbacks, module
 *                        loads and unloads, sysfs writes, the kernel log; the counter "tasks
 *                        pending" (tasks with TIF_PATCH_PENDING)
 *   a process per task   "sched" (running on cpuN, runnable, sleeping), "patch state"
 *                        (unpatched / patched, pending or not, and why it changed), and
 *                        "klp_try_switch_task" (each verdict: switched, or what blocked it,
 *                        with a flow to the pass it kept from completing); a user task also
 *                        "user/kernel" ("user", or the system call or interrupt that has it
 *                        in the kernel)
 *
 * Interrupts and user/kernel mode come from the entry records (EV_IRQ_*, EV_SYS_ENTER,
 * EV_USER_ENTER), which the guest writes only in a session booted with traceEntry: without
 * them those rows are empty.
 *
 * A pass, a verdict or a sysfs write takes no emulated time (the host acts with every vCPU
 * stopped), so such slices are drawn MOMENT_US wide. The emulated clock starts at 0 at boot;
 * timestamps are microseconds, as the format wants.
 */
import { writeFileSync } from 'node:fs';
import { EV_MODULE, EV_SYSFS_WRITE, type Kernel, type LabEvent, imageSymbolizer, type Symbolizer } from '../kernel/index.ts';
import {
  KLP_BLOCK_REASONS,
  KLP_EV_BLOCKED,
  KLP_EV_CALLBACK,
  KLP_EV_TASK,
  KLP_EV_TRANSITION,
  KLP_TASK_CAUSES,
  KLP_UNDEFINED,
  Livepatch,
} from '../livepatch/index.ts';

/** How wide a slice that takes no emulated time is drawn, in µs. */
export const MOMENT_US = 1;

/** A task as the session ended (names and kinds for the tracks; the log has pids only). */
export interface SessionTask {
  pid: number;
  cpu: number;
  comm: string;
  kthread: boolean;
  idle: boolean;
}

/** What a trace or a report is built from: one lab's event log and what names its pids. */
export interface TraceSession {
  name: string;
  nrCpus: number;
  /** Emulated ns at the end of the session. */
  endNs: number;
  tasks: SessionTask[];
  events: readonly LabEvent[];
  /** EV_KLP_SWITCH's switch points (offsets into the kernel text), symbolized. */
  switchPoints: Record<number, string>;
  /** Where EV_USER_ENTER resumed user mode (offsets from _stext, as its records have them), symbolized. */
  userIps: Record<number, string>;
  /** Interrupt vectors by number ("timer", "resched IPI", ...). */
  vectors: Record<number, string>;
  /** System calls by number (what sys_call_table points to, without its sys_ prefix). */
  syscalls: Record<number, string>;
}

/** What the image's *_VECTOR constants are called on a timeline. */
const VECTOR_NAMES: Record<string, string> = {
  TIMER_VECTOR: 'timer',
  RESCHEDULE_VECTOR: 'resched IPI',
  CALL_FUNCTION_VECTOR: 'call function IPI',
  HOST_EVENT_VECTOR: 'host event',
};

/** The kernel's system call names, from its table as guest memory has it. */
function syscallNames(k: Kernel): Record<number, string> {
  const out: Record<number, string> = {};
  const table = k.sym('sys_call_table');
  const n = k.layout.constant('NR_syscalls');
  for (let nr = 0; nr < n; nr++) {
    const fn = k.image.symbolAt(k.mem.u64(table + BigInt(8 * nr)));
    if (fn) out[nr] = fn.name.replace(/^(__x64_)?sys_/, '');
  }
  return out;
}

/** The session of a kernel (or a lab's kernel) as it is now: its whole event log. */
export function captureSession(k: Kernel, name: string, sym: Symbolizer = imageSymbolizer(k.image.elf)): TraceSession {
  const events = k.log.events.slice();
  const stext = k.sym('_stext');
  const switchPoints: Record<number, string> = {};
  const userIps: Record<number, string> = {};
  for (const e of events)
    if (e.type === 'klp_switch' && !(e.c in switchPoints)) switchPoints[e.c] = sym.symbolizeReturn(stext + BigInt(e.c));
    else if (e.type === 'user_enter' && !(e.a in userIps)) userIps[e.a] = sym.symbolize(BigInt.asUintN(64, stext + BigInt(e.a)));
  return {
    name,
    nrCpus: k.nrCpus,
    endNs: k.machine.clockNs,
    tasks: k.tasks().map((t) => ({ pid: t.pid, cpu: t.cpu, comm: t.comm, kthread: t.isKthread, idle: t.isIdle })),
    events,
    switchPoints,
    userIps,
    vectors: Object.fromEntries([...k.layout.constants('')].filter(([n]) => n in VECTOR_NAMES).map(([n, v]) => [v, VECTOR_NAMES[n]])),
    syscalls: syscallNames(k),
  };
}

/** One event of the Trace Event Format. */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'C' | 'M' | 's' | 'f';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  s?: 't';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, string>;
}

// the livepatch process's threads
const LP = { transitions: 1, passes: 2, kicks: 3, callbacks: 4, modules: 5, sysfs: 6, printk: 7 } as const;
const LP_NAMES: Record<number, string> = {
  [LP.transitions]: 'transitions',
  [LP.passes]: 'klp_try_complete_transition',
  [LP.kicks]: 'signals and force',
  [LP.callbacks]: 'callbacks',
  [LP.modules]: 'modules',
  [LP.sysfs]: 'sysfs writes',
  [LP.printk]: 'kernel log',
};
// a task process's threads
const T = { sched: 1, patch: 2, verdict: 3, mode: 4 } as const;
const T_NAMES: Record<number, string> = {
  [T.sched]: 'sched',
  [T.patch]: 'patch state',
  [T.verdict]: 'klp_try_switch_task',
  [T.mode]: 'user/kernel',
};

/** Trace pids of a session: the vCPUs, livepatch, and each task (idle tasks by cpu, the others by pid). */
const SESSION_STRIDE = 1_000_000;
const PID_CPUS = 1;
const PID_LIVEPATCH = 2;
const PID_IDLE = 10;
const PID_TASK = 100;

const stateName = (s: number) => (s === KLP_UNDEFINED ? 'undefined' : Livepatch.stateName(s));
const us = (ns: number) => ns / 1000;

interface Open {
  name: string;
  since: number;
  args?: Record<string, unknown>;
}

/**
 * The nested slices of one thread, opened and closed in the log's order. The log's clock
 * advances a round at a time, so an interrupt often enters and leaves at one timestamp: it is
 * drawn MOMENT_US wide, and whatever comes after it on the thread starts no earlier than its
 * end, so that the slices nest and never overlap (as a consumer requires of one thread).
 */
class Nest {
  private readonly stack: Open[] = [];
  /** ns: nothing on the thread starts before this */
  private cursor = 0;
  constructor(private readonly emit: (o: Open, endNs: number) => void) {}
  top(): Open | undefined {
    return this.stack.at(-1);
  }
  open(name: string, ts: number, args?: Record<string, unknown>): void {
    this.cursor = Math.max(ts, this.cursor);
    this.stack.push(args ? { name, since: this.cursor, args } : { name, since: this.cursor });
  }
  close(ts: number): void {
    const o = this.stack.pop();
    if (!o) return;
    this.cursor = Math.max(ts, this.cursor, o.since + MOMENT_US * 1000);
    this.emit(o, this.cursor);
  }
  closeAll(ts: number): void {
    while (this.stack.length) this.close(ts);
  }
}

/**
 * A slice of a user task's mode track: user mode, a system call (`nr`) or an interrupt
 * (`vector`), with the raw timestamp it began at. One shape for all three, and its args made
 * only when it is emitted: a traced session has tens of thousands of them, most of them
 * merged away or never drawn apart.
 */
class ModeSlice {
  end = 0;
  calls = 1;
  ret: number | null = null;
  constructor(
    readonly name: string,
    readonly since: number,
    readonly at: number,
    readonly nr: number | null,
    readonly vector: number | null,
    readonly ip: string | null,
  ) {}
  drawn(): Open {
    const args: Record<string, unknown> =
      this.nr !== null
        ? this.ret === null
          ? { calls: this.calls }
          : { calls: this.calls, ret: this.ret }
        : this.vector !== null
          ? { vector: this.vector }
          : { ip: this.ip };
    return { name: this.name, since: this.since, args };
  }
}

/**
 * A user task's mode: "user" while it runs in user mode, else why it is in the kernel -- the
 * system call it made, or the interrupt that took it from user mode -- until it returns. The
 * log's clock moves a round at a time, and a task hammering a system call makes it many times
 * in one round, indistinguishable in time: consecutive calls of one number that enter at one
 * timestamp are one slice that counts them (`calls`), the user time between them included.
 * Slices never overlap, as Nest's.
 */
class ModeTrack {
  private open: ModeSlice | null = null;
  /** the last closed slice, emitted once it is known the next call does not continue it */
  private held: ModeSlice | null = null;
  private cursor = 0;
  constructor(private readonly emit: (o: Open, endNs: number) => void) {}
  private close(ts: number): void {
    const o = this.open;
    if (!o) return;
    this.open = null;
    this.cursor = Math.max(ts, this.cursor, o.since + MOMENT_US * 1000);
    this.flush();
    o.end = this.cursor;
    this.held = o;
  }
  private flush(): void {
    if (this.held) this.emit(this.held.drawn(), this.held.end);
    this.held = null;
  }
  private start(ts: number, name: string, nr: number | null, vector: number | null, ip: string | null): void {
    this.close(ts);
    this.cursor = Math.max(ts, this.cursor);
    this.open = new ModeSlice(name, this.cursor, ts, nr, vector, ip);
  }
  syscall(nr: number, name: (nr: number) => string, ts: number): void {
    const h = this.held;
    const o = this.open;
    if (h && h.nr === nr && h.at === ts && o && o.name === 'user' && o.at === ts) {
      h.calls++;
      this.open = h;
      this.held = null;
      return;
    }
    this.start(ts, name(nr), nr, null, null);
  }
  interrupt(name: string, vector: number, ts: number): void {
    this.start(ts, name, null, vector, null);
  }
  /** Back to user mode at `ip`; `ret` is what a system call returned. */
  user(ip: string, ret: number, ts: number): void {
    if (this.open && this.open.nr !== null) this.open.ret = ret;
    this.start(ts, 'user', null, null, ip);
  }
  end(ts: number): void {
    this.close(ts);
    this.flush();
  }
}

/** Builds one session's events (pids offset by `base`). */
function sessionEvents(s: TraceSession, base: number, out: TraceEvent[]): void {
  const pidCpus = base + PID_CPUS;
  const pidLp = base + PID_LIVEPATCH;
  const taskKey = (pid: number, cpu: number) => (pid === 0 ? -1 - cpu : pid);
  const taskPid = (key: number) => base + (key < 0 ? PID_IDLE - 1 - key : PID_TASK + key);
  const names = new Map<number, SessionTask>();
  for (const t of s.tasks) names.set(taskKey(t.pid, t.cpu), t);
  const seen = new Set<number>();

  // (no spread: a traced session has tens of thousands of slices)
  const slice = (pid: number, tid: number, o: Open, end: number, cat: string) => {
    const e: TraceEvent = { name: o.name, ph: 'X', cat, pid, tid, ts: us(o.since), dur: us(end - o.since) };
    if (o.args) e.args = o.args;
    out.push(e);
  };
  const moment = (pid: number, tid: number, ts: number, name: string, cat: string, args?: Record<string, unknown>) =>
    out.push({ name, ph: 'X', cat, pid, tid, ts: us(ts), dur: MOMENT_US, ...(args ? { args } : {}) });

  // --- vCPUs: what runs (or offline) with the interrupts it takes nested inside ---------------
  const cpuTracks = new Map<number, Nest>();
  const cpuTrack = (cpu: number) => {
    let n = cpuTracks.get(cpu);
    if (!n) cpuTracks.set(cpu, (n = new Nest((o, end) => slice(pidCpus, cpu + 1, o, end, o.args?.vector !== undefined ? 'irq' : 'sched'))));
    return n;
  };
  const cpuOff = new Set<number>();
  const runOnCpu = (cpu: number, key: number, ts: number) => {
    const n = cpuTrack(cpu);
    n.closeAll(ts);
    const t = names.get(key);
    n.open(key < 0 ? 'idle' : t ? t.comm : `pid ${key}`, ts, { pid: key < 0 ? 0 : key });
  };
  // the vectors of the interrupts each cpu is in, innermost last
  const inIrq = new Map<number, number[]>();
  const vectorName = (v: number) => s.vectors[v] ?? `vector ${v}`;
  // one string per system call, not one per record
  const syscallNames = new Map<number, string>();
  const syscallName = (nr: number) => {
    let n = syscallNames.get(nr);
    if (n === undefined) syscallNames.set(nr, (n = `syscall ${s.syscalls[nr] ?? nr}`));
    return n;
  };

  // --- user tasks: user mode, or the system call or interrupt that has it in the kernel -----
  const modes = new Map<number, ModeTrack>();
  const modeTrack = (key: number) => {
    let n = modes.get(key);
    if (!n) {
      modes.set(key, (n = new ModeTrack((o, end) => slice(taskPid(key), T.mode, o, end, 'entry'))));
      seen.add(key);
    }
    return n;
  };

  // --- tasks: run/sleep and patch state ----------------------------------------------------
  const run = new Map<number, Open>();
  const exited = new Set<number>();
  const setRun = (key: number, name: string | null, ts: number, args?: Record<string, unknown>) => {
    if (exited.has(key)) return;
    seen.add(key);
    const o = run.get(key);
    if (o) slice(taskPid(key), T.sched, o, ts, 'sched');
    if (name) run.set(key, { name, since: ts, args });
    else run.delete(key);
  };
  const patch = new Map<number, Open & { state: number; pending: boolean }>();
  let pendingCount = 0;
  const counter = (ts: number) =>
    out.push({ name: 'tasks pending', ph: 'C', cat: 'livepatch', pid: pidLp, tid: 0, ts: us(ts), args: { pending: pendingCount } });
  const setPatch = (key: number, state: number, pending: boolean, cause: string, ts: number) => {
    seen.add(key);
    const o = patch.get(key);
    const wasPending = o?.pending ?? false;
    if (o && o.state === state && o.pending === pending) return;
    if (!o && state === KLP_UNDEFINED && !pending) return;
    if (o) slice(taskPid(key), T.patch, o, ts, 'livepatch');
    if (state === KLP_UNDEFINED && !pending) patch.delete(key);
    else patch.set(key, { name: `${stateName(state)}${pending ? ' (pending)' : ''}`, since: ts, state, pending, args: { cause } });
    if (pending !== wasPending) {
      pendingCount += pending ? 1 : -1;
      counter(ts);
    }
  };

  // --- livepatch ---------------------------------------------------------------------------
  let transition: Open | null = null;
  let phase: Open | null = null;
  const endPhase = (ts: number) => {
    if (phase) slice(pidLp, LP.transitions, phase, ts, 'livepatch');
    phase = null;
  };
  const blockedFlows: { id: number; key: number }[] = [];
  let flowId = base;
  const modules = new Map<string, Open>();
  const callbacks = new Map<string, Open>();

  for (const e of s.events) {
    const ts = e.tsNs;
    switch (e.type) {
      // the most frequent records first
      case 'user_enter':
        modeTrack(taskKey(e.pid, e.cpu)).user(s.userIps[e.a] ?? `_stext+0x${e.a.toString(16)}`, e.c === 1 ? -e.b : e.b, ts);
        break;
      case 'sys_enter':
        modeTrack(taskKey(e.pid, e.cpu)).syscall(e.a, syscallName, ts);
        break;
      case 'sched_switch': {
        const prev = taskKey(e.a, e.cpu);
        const next = taskKey(e.b, e.cpu);
        setRun(prev, e.c === 0 ? 'runnable' : 'sleeping', ts, { state: e.c });
        setRun(next, `running on cpu${e.cpu}`, ts, { cpu: e.cpu });
        runOnCpu(e.cpu, next, ts);
        break;
      }
      case 'irq_entry': {
        const key = taskKey(e.pid, e.cpu);
        const fromUser = e.b === 1 && key >= 0;
        cpuTrack(e.cpu).open(vectorName(e.a), ts, { vector: e.a, from: fromUser ? 'user' : 'kernel' });
        const stack = inIrq.get(e.cpu) ?? [];
        stack.push(e.a);
        inIrq.set(e.cpu, stack);
        if (fromUser) modeTrack(key).interrupt(vectorName(e.a), e.a, ts);
        break;
      }
      case 'irq_exit': {
        const vector = inIrq.get(e.cpu)?.pop();
        if (vector === undefined) break; // its entry came before the log's first record
        if (cpuTrack(e.cpu).top()?.args?.vector === vector) cpuTrack(e.cpu).close(ts);
        break;
      }
      case 'sched_wakeup': {
        const key = taskKey(e.a, e.b);
        if (run.get(key)?.name === 'sleeping') setRun(key, 'runnable', ts, { woken: true });
        break;
      }
      case 'cpu_online': {
        cpuOff.delete(e.a);
        runOnCpu(e.a, taskKey(0, e.a), ts);
        setRun(taskKey(0, e.a), `running on cpu${e.a}`, ts);
        break;
      }
      case 'cpu_dead':
        cpuTrack(e.a).closeAll(ts);
        cpuTrack(e.a).open('offline', ts);
        setRun(taskKey(0, e.a), 'offline', ts);
        cpuOff.add(e.a);
        break;
      case 'fork': {
        const child = taskKey(e.b, e.cpu);
        exited.delete(child);
        setRun(child, 'runnable', ts, { parent: e.a });
        // klp_copy_process(): the child takes its parent's state and pending flag
        const p = patch.get(taskKey(e.a, e.cpu));
        if (p) setPatch(child, p.state, p.pending, 'fork', ts);
        break;
      }
      case 'exit':
        modes.get(taskKey(e.a, e.cpu))?.end(ts);
        setRun(taskKey(e.a, e.cpu), null, ts);
        setPatch(taskKey(e.a, e.cpu), KLP_UNDEFINED, false, 'exit', ts);
        exited.add(taskKey(e.a, e.cpu));
        break;
      case 'signal':
        moment(taskPid(taskKey(e.a, e.cpu)), T.sched, ts, `signal ${e.b}`, 'signal', { handler: e.c === 1 });
        break;
      case 'klp_switch': {
        const key = taskKey(e.a, e.cpu);
        const where = s.switchPoints[e.c] ?? `_stext+0x${e.c.toString(16)}`;
        setPatch(key, e.b, false, `switch point ${where}`, ts);
        moment(taskPid(key), T.verdict, ts, `switched itself at ${where}`, 'livepatch', { state: stateName(e.b) });
        break;
      }
      case KLP_EV_TASK: {
        const key = taskKey(e.pid, e.cpu);
        const cause = KLP_TASK_CAUSES[e.c] ?? `cause ${e.c}`;
        setPatch(key, e.a, e.b === 1, cause, ts);
        if (cause === 'cond_resched')
          moment(taskPid(key), T.verdict, ts, 'switched in cond_resched', 'livepatch', { state: stateName(e.a) });
        break;
      }
      case KLP_EV_BLOCKED: {
        const key = taskKey(e.pid, e.cpu);
        const why = KLP_BLOCK_REASONS[e.a] ?? `reason ${e.a}`;
        moment(taskPid(key), T.verdict, ts, e.text ? `${why} ${e.text}` : why, 'livepatch', e.text ? { function: e.text } : undefined);
        const id = ++flowId;
        out.push({ name: 'blocked', ph: 's', cat: 'livepatch', id, pid: taskPid(key), tid: T.verdict, ts: us(ts) });
        blockedFlows.push({ id, key });
        break;
      }
      case KLP_EV_TRANSITION: {
        const [what, patchName] = e.text.split(' ');
        const dir = e.a === KLP_UNDEFINED ? '' : e.a === 1 ? 'patching' : 'unpatching';
        if (what === 'init') {
          transition = { name: `${dir} ${patchName}`, since: ts, args: { patch: patchName } };
          endPhase(ts);
          phase = { name: 'init', since: ts };
        } else if (what === 'start') {
          endPhase(ts);
          phase = { name: `${dir}: waiting for tasks`, since: ts };
        } else if (what === 'reverse' || what === 'cancel') {
          endPhase(ts);
          phase = { name: what === 'reverse' ? 'reversing' : 'canceling', since: ts };
          if (transition) transition.name += ` (${what === 'reverse' ? 'reversed' : 'canceled'})`;
        } else if (what === 'completing') {
          endPhase(ts);
          phase = { name: 'completing', since: ts };
        } else if (what === 'complete') {
          endPhase(ts);
          if (transition) slice(pidLp, LP.transitions, transition, ts, 'livepatch');
          transition = null;
        } else if (what === 'pass') {
          // every task still pending that this pass did not find blocked switched in it: its
          // stack was checked, or it is the idle task of an offline cpu
          const blocked = new Set(blockedFlows.map((f) => f.key));
          for (const [key, o] of [...patch]) {
            if (!o.pending || blocked.has(key)) continue;
            const offline = key < 0 && cpuOff.has(-1 - key);
            setPatch(key, e.a, false, offline ? 'offline cpu' : 'switch', ts);
            moment(taskPid(key), T.verdict, ts, offline ? 'switched: cpu offline' : 'switched: stack checked', 'livepatch', {
              state: stateName(e.a),
            });
          }
          // drawn a nanosecond after the verdicts it sums up, so that each flow goes forward in time
          moment(pidLp, LP.passes, ts + 1, `pass ${e.c}`, 'livepatch', { patch: patchName, target: dir, left: e.b });
          for (const f of blockedFlows)
            out.push({ name: 'blocked', ph: 'f', bp: 'e', cat: 'livepatch', id: f.id, pid: pidLp, tid: LP.passes, ts: us(ts + 1) });
          blockedFlows.length = 0;
        } else moment(pidLp, LP.kicks, ts, what, 'livepatch', { patch: patchName });
        break;
      }
      case KLP_EV_CALLBACK: {
        if (e.b === 0) callbacks.set(e.text, { name: e.text, since: ts });
        else {
          const o = callbacks.get(e.text) ?? { name: e.text, since: ts };
          slice(pidLp, LP.callbacks, { ...o, args: { ret: e.a } }, ts, 'livepatch');
          callbacks.delete(e.text);
        }
        break;
      }
      case EV_MODULE: {
        const [state, name] = e.text.split(' ');
        const o = modules.get(name);
        if (state === 'coming') modules.set(name, { name: `load ${name}`, since: ts });
        else if (state === 'going') {
          if (o) slice(pidLp, LP.modules, o, ts, 'module');
          modules.set(name, { name: `unload ${name}`, since: ts });
        } else if (o) {
          // live ends a load, gone an unload or a load that failed
          slice(pidLp, LP.modules, state === 'gone' && o.name.startsWith('load') ? { ...o, name: `${o.name} (failed)` } : o, ts, 'module');
          modules.delete(name);
          if (state === 'live') moment(pidLp, LP.modules, ts, `${name} live`, 'module');
        }
        break;
      }
      case EV_SYSFS_WRITE: {
        const eq = e.text.indexOf('=');
        const path = e.text.slice(0, eq);
        moment(pidLp, LP.sysfs, ts, `echo ${e.text.slice(eq + 1)} > ${path}`, 'sysfs', { path, errno: e.a });
        break;
      }
      case 'printk':
        out.push({ name: e.text, ph: 'i', s: 't', cat: 'printk', pid: pidLp, tid: LP.printk, ts: us(ts) });
        break;
    }
  }
  // what is still open runs to the end of the session
  const end = s.endNs;
  for (const n of cpuTracks.values()) n.closeAll(end);
  for (const n of modes.values()) n.end(end);
  for (const [key, o] of run) slice(taskPid(key), T.sched, o, end, 'sched');
  for (const [key, o] of patch) slice(taskPid(key), T.patch, o, end, 'livepatch');
  endPhase(end);
  if (transition) slice(pidLp, LP.transitions, { ...transition, name: `${transition.name} (in progress)` }, end, 'livepatch');
  for (const o of modules.values()) slice(pidLp, LP.modules, o, end, 'module');

  // names: a process per part, its threads, in a fixed order
  const meta = (name: string, pid: number, tid: number, args: Record<string, unknown>) => out.push({ name, ph: 'M', pid, tid, args });
  const prefix = s.name ? `${s.name}: ` : '';
  meta('process_name', pidCpus, 0, { name: `${prefix}vCPUs` });
  meta('process_sort_index', pidCpus, 0, { sort_index: base + 1 });
  for (let c = 0; c < s.nrCpus; c++) {
    meta('thread_name', pidCpus, c + 1, { name: `cpu${c}` });
    meta('thread_sort_index', pidCpus, c + 1, { sort_index: c });
  }
  meta('process_name', pidLp, 0, { name: `${prefix}livepatch` });
  meta('process_sort_index', pidLp, 0, { sort_index: base + 2 });
  for (const [tid, name] of Object.entries(LP_NAMES)) {
    meta('thread_name', pidLp, Number(tid), { name });
    meta('thread_sort_index', pidLp, Number(tid), { sort_index: Number(tid) });
  }
  for (const t of s.tasks) seen.add(taskKey(t.pid, t.cpu));
  for (const key of [...seen].sort((a, b) => (a < 0 && b < 0 ? b - a : a - b))) {
    const t = names.get(key);
    const pid = taskPid(key);
    const label =
      key < 0
        ? `swapper/${-1 - key} (idle)`
        : t
          ? `${t.comm} (pid ${key}, ${t.kthread ? 'kernel thread' : 'user task'})`
          : `pid ${key} (exited)`;
    meta('process_name', pid, 0, { name: `${prefix}${label}` });
    meta('process_sort_index', pid, 0, { sort_index: pid });
    for (const [tid, name] of Object.entries(T_NAMES)) {
      if (Number(tid) === T.mode && !modes.has(key)) continue; // kernel threads are always in the kernel
      meta('thread_name', pid, Number(tid), { name });
      meta('thread_sort_index', pid, Number(tid), { sort_index: Number(tid) });
    }
  }
}

/** The sessions as one trace: each session's processes apart, its own emulated clock. */
export function chromeTrace(sessions: readonly TraceSession[]): ChromeTrace {
  const traceEvents: TraceEvent[] = [];
  sessions.forEach((s, i) => sessionEvents(s, i * SESSION_STRIDE, traceEvents));
  return {
    traceEvents,
    displayTimeUnit: 'ns',
    otherData: { generator: 'klp-lab', clock: 'emulated time since boot', sessions: sessions.map((s) => s.name).join(', ') },
  };
}

/** Writes the sessions' trace to `file` (JSON, for ui.perfetto.dev or chrome://tracing). */
export function writeTrace(file: string, sessions: readonly TraceSession[]): void {
  writeFileSync(file, JSON.stringify(chromeTrace(sessions)));
}
