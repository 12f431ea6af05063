// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Typed views of the firmware's tasks and per-cpu data, in the manner of drgn: a view is an
 * address plus the layout, every getter reads guest memory when called. Helpers are named
 * after the kernel functions they mirror (for_each_task, cpu_curr, task_curr, ...).
 */
import type { GuestMemory } from '../emu/index.ts';
import type { Layout } from './layout.ts';

/** What a view needs: guest memory, the layout, and symbol addresses. */
export interface Target {
  readonly mem: GuestMemory;
  readonly layout: Layout;
  sym(name: string): bigint;
  readonly nrCpus: number;
}

export class TaskListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskListError';
  }
}

const STATE_CHARS: Array<[string, string]> = [
  ['TASK_INTERRUPTIBLE', 'S'],
  ['TASK_UNINTERRUPTIBLE', 'D'],
  ['TASK_DEAD', 'X'],
];

const taskMembers = new WeakMap<Layout, Map<string, bigint>>();
/** offsetof(struct task_struct, member), as a bigint, worked out once per layout. */
function taskMember(layout: Layout, member: string): bigint {
  let m = taskMembers.get(layout);
  if (!m) taskMembers.set(layout, (m = new Map()));
  let v = m.get(member);
  if (v === undefined) m.set(member, (v = BigInt(layout.offset('task_struct', member))));
  return v;
}

const rqCurrs = new WeakMap<Target, bigint[]>();
/** &cpu_rq(cpu)->curr of every cpu. */
function rqCurrAddresses(t: Target): bigint[] {
  let a = rqCurrs.get(t);
  if (!a) rqCurrs.set(t, (a = Array.from({ length: t.nrCpus }, (_x, cpu) => rqField(t, cpu, 'curr'))));
  return a;
}

export class Task {
  constructor(
    readonly t: Target,
    readonly address: bigint,
  ) {}

  private at(member: string): bigint {
    return this.address + taskMember(this.t.layout, member);
  }

  get pid(): number {
    return this.t.mem.s32(this.at('pid'));
  }
  get comm(): string {
    return this.t.mem.cstring(this.at('comm'), this.t.layout.constant('TASK_COMM_LEN'));
  }
  get state(): number {
    return Number(this.t.mem.s64(this.at('__state')));
  }
  /** ps-style state letter: R, S, D, X. */
  get stateChar(): string {
    const s = this.state;
    if (s === this.t.layout.constant('TASK_RUNNING')) return 'R';
    for (const [name, ch] of STATE_CHARS) if (s & this.t.layout.constant(name)) return ch;
    return '?';
  }
  get flags(): number {
    return this.t.mem.u32(this.at('flags'));
  }
  get isKthread(): boolean {
    return (this.flags & this.t.layout.constant('PF_KTHREAD')) !== 0;
  }
  get isIdle(): boolean {
    return (this.flags & this.t.layout.constant('PF_IDLE')) !== 0;
  }
  get exiting(): boolean {
    return (this.flags & this.t.layout.constant('PF_EXITING')) !== 0;
  }
  /** thread_info.flags (TIF_*). */
  get tifFlags(): bigint {
    return this.t.mem.u64(this.at('thread_info.flags'));
  }
  testTifFlag(name: string): boolean {
    return ((this.tifFlags >> BigInt(this.t.layout.constant(name))) & 1n) === 1n;
  }
  get cpu(): number {
    return this.t.mem.s32(this.at('cpu'));
  }
  get onCpu(): boolean {
    return this.t.mem.s32(this.at('on_cpu')) !== 0;
  }
  get onRq(): boolean {
    return this.t.mem.s32(this.at('on_rq')) !== 0;
  }
  get patchState(): number {
    return this.t.mem.s32(this.at('patch_state'));
  }
  /** Bottom of the kernel stack; the stack is [stack, stack + THREAD_SIZE). */
  get stack(): bigint {
    return this.t.mem.u64(this.at('stack'));
  }
  get stackEnd(): bigint {
    return this.stack + BigInt(this.t.layout.constant('THREAD_SIZE'));
  }
  /** Saved kernel stack pointer (valid while the task is switched out). */
  get threadSp(): bigint {
    return this.t.mem.u64(this.at('thread.sp'));
  }
  get nvcsw(): bigint {
    return this.t.mem.u64(this.at('nvcsw'));
  }
  /** RCU-tasks quiescent states the task reported itself (cond_resched_tasks_rcu_qs()). */
  get rcuTasksQs(): bigint {
    return this.t.mem.u64(this.at('rcu_tasks_qs'));
  }
  get nivcsw(): bigint {
    return this.t.mem.u64(this.at('nivcsw'));
  }
  get utimeTicks(): bigint {
    return this.t.mem.u64(this.at('utime_ticks'));
  }
  get stimeTicks(): bigint {
    return this.t.mem.u64(this.at('stime_ticks'));
  }
  get parent(): Task | null {
    const p = this.t.mem.u64(this.at('parent'));
    return p ? new Task(this.t, p) : null;
  }
  /** The cpu this task is current on (rq->curr), or -1: a current task counts as running. */
  currentOn(): number {
    const curr = rqCurrAddresses(this.t);
    for (let cpu = 0; cpu < curr.length; cpu++) if (this.t.mem.u64(curr[cpu]) === this.address) return cpu;
    return -1;
  }
  toString(): string {
    return `${this.comm}:${this.pid}`;
  }
}

export function perCpuAddress(t: Target, cpu: number): bigint {
  if (cpu < 0 || cpu >= t.nrCpus) throw new RangeError(`cpu ${cpu} out of range 0..${t.nrCpus - 1}`);
  return t.sym('per_cpu') + BigInt(cpu * t.layout.sizeof('pcpu'));
}

function rqField(t: Target, cpu: number, member: string): bigint {
  return perCpuAddress(t, cpu) + BigInt(t.layout.offset('pcpu', 'rq') + t.layout.offset('rq', member));
}

/** cpu_curr(): the task current on a cpu. */
export function cpuCurr(t: Target, cpu: number): Task {
  return new Task(t, t.mem.u64(rqField(t, cpu, 'curr')));
}

export function idleTask(t: Target, cpu: number): Task {
  return new Task(t, t.mem.u64(rqField(t, cpu, 'idle')));
}

export function cpuOnline(t: Target, cpu: number): boolean {
  return t.mem.s32(perCpuAddress(t, cpu) + BigInt(t.layout.offset('pcpu', 'online'))) !== 0;
}

export function rqNrQueued(t: Target, cpu: number): number {
  return t.mem.u32(rqField(t, cpu, 'nr_queued'));
}

export function rqNrSwitches(t: Target, cpu: number): bigint {
  return t.mem.u64(rqField(t, cpu, 'nr_switches'));
}

/**
 * for_each_process_thread(): every task on the task list (not the idle tasks). The list is
 * read while all vCPUs are stopped; one could be stopped inside tasklist_lock, so the walk is
 * bounded and checks every link.
 */
export function* forEachTask(t: Target, limit = 1_000_000): Generator<Task> {
  const tasksOff = BigInt(t.layout.offset('task_struct', 'tasks'));
  const nextOff = BigInt(t.layout.offset('list_head', 'next'));
  const head = t.sym('init_task') + tasksOff;
  let node = t.mem.u64(head + nextOff);
  if (node === 0n) return; // sched_init() has not run yet: no tasks
  for (let n = 0; node !== head; n++) {
    if (n >= limit) throw new TaskListError(`task list longer than ${limit} entries: corrupt or looping`);
    if (!t.mem.contains(node, 16)) throw new TaskListError(`task list link 0x${node.toString(16)} points outside RAM`);
    yield new Task(t, node - tasksOff);
    node = t.mem.u64(node + nextOff);
  }
}

/** Every task including each cpu's idle task, idle tasks first. */
export function allTasks(t: Target): Task[] {
  const out: Task[] = [];
  // a cpu that has not come up yet has no idle task (its runqueue's idle is still NULL)
  for (let cpu = 0; cpu < t.nrCpus; cpu++) {
    const idle = idleTask(t, cpu);
    if (idle.address !== 0n) out.push(idle);
  }
  for (const task of forEachTask(t)) out.push(task);
  return out;
}

export function findTaskByPid(t: Target, pid: number): Task | undefined {
  for (const task of forEachTask(t)) if (task.pid === pid) return task;
  return undefined;
}
