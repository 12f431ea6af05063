// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Dynamic trampolines, as x86 Linux makes them (create_trampoline, FTRACE_FL_TRAMP): a site
 * traced by exactly one ops calls a copy of ftrace_regs_caller made for that ops, whose op load
 * holds the ops' address and whose call goes to ftrace_ops_assist_func (the one handler, inside
 * the same per-cpu walk accounting as the list function) instead of ftrace_ops_list_func. The
 * cost of a traced call then no longer depends on how many other ops are registered.
 *
 * A copy lives in host-managed guest memory (within +/-2 GiB of the image, so its rel32 calls
 * reach). Before the first copy, the static trampoline is checked with capstone: no instruction
 * but the patched call may reach outside it (a relative target would move with the copy). The
 * two patch points are assembled from their text with keystone. A copy is text for the
 * unwinder, with the static trampoline's ORC at the same offset (orc_ftrace_find), and prints as
 * "ftrace_trampoline+0x../0x.. [__builtin__ftrace]".
 *
 * Retiring a copy (its ops unregistered, or its site back on the static trampoline) first points
 * its call at ftrace_ops_list_func: a task stopped in it before that call then walks the list
 * rather than use an op the host may free after an ordinary grace period. The memory itself
 * is freed after an RCU-tasks style grace period: every task that was running or runnable when
 * the copy was retired (so could be preempted inside it) has since switched voluntarily (nvcsw),
 * reported a quiescent state itself (cond_resched_tasks_rcu_qs(): cond_resched() alone is not
 * one, as in Linux, where it switches involuntarily at most), been seen in user mode, slept,
 * exited, or is an idle task at rest in its idle loop (or parked offline). Being an idle task is
 * not enough: one interrupted, or preempted, while its loop runs a traced function may be
 * stopped inside the copy like any other task, so where it is is looked at (idleQuiescent).
 */
import { type Kernel, allTasks, cpuCurr, Task, SymbolTable } from '../kernel/index.ts';
import { assemble, disassemble, formatInsn, R } from '../emu/index.ts';
import type { OrcUnwinder } from '../orc/index.ts';
import { FtraceError, hexBytes } from './errors.ts';

/** The name a dynamic trampoline is printed with, and its "module". */
export const TRAMPOLINE_SYMBOL = 'ftrace_trampoline';
export const TRAMPOLINE_MODULE = '__builtin__ftrace';

/** Where a task switched out by schedule_idle() can have return addresses above its idle loop. */
const SCHEDULER_FRAMES = ['__schedule', 'schedule_idle', '__switch_to_asm'];

const MOVABS_SIZE = 10;
const CALL_SIZE = 5;

/** One ops' copy of ftrace_regs_caller. */
export class Trampoline {
  /** Set when retired: the tasks it waits for, with their switch counts at retirement. */
  holdouts?: Map<bigint, Snapshot>;

  constructor(
    readonly address: bigint,
    readonly size: number,
    /** The guest struct ftrace_ops whose address it loads. */
    readonly op: bigint,
    readonly symbols: SymbolTable,
    readonly id: string,
    /** Whom it serves (the host-side ops), for afterRetired. */
    readonly owner: object,
  ) {}

  contains(address: bigint): boolean {
    return address >= this.address && address < this.address + BigInt(this.size);
  }
}

/** What a holdout had done when the trampoline was retired: voluntary switches, reported quiescent states. */
interface Snapshot {
  nvcsw: bigint;
  qs: bigint;
}

/** The static trampoline and its patch points, checked once. */
interface Template {
  start: bigint;
  bytes: Uint8Array;
  opOff: number;
  callOff: number;
}

export class Trampolines {
  readonly listFunc: bigint;
  readonly assistFunc: bigint;
  private template?: Template;
  private readonly live = new Set<Trampoline>();
  private readonly retired: Trampoline[] = [];
  /** Callbacks waiting for the trampolines retired before them to be freed. */
  private waiting: { fn: () => void; until: Set<Trampoline> }[] = [];
  private seq = 0;

  constructor(
    readonly kernel: Kernel,
    /** The kernel's unwinder: it learns each trampoline's ORC, and tells an idle task's stack. */
    private readonly unwinder: OrcUnwinder,
  ) {
    this.listFunc = kernel.sym('ftrace_ops_list_func');
    this.assistFunc = kernel.sym('ftrace_ops_assist_func');
    kernel.machine.afterRound.push(() => {
      if (this.retired.length) this.poll();
    });
  }

  /** Trampolines in use, and retired ones waiting for their grace period. */
  get count(): { live: number; retired: number } {
    return { live: this.live.size, retired: this.retired.length };
  }

  /** The trampoline (live or retired) holding address. */
  at(address: bigint): Trampoline | undefined {
    for (const t of this.live) if (t.contains(address)) return t;
    return this.retired.find((t) => t.contains(address));
  }

  private checkedTemplate(): Template {
    if (this.template) return this.template;
    const k = this.kernel;
    const sym = k.image.elf.findSymbol('ftrace_regs_caller');
    const start = sym.value;
    const end = start + BigInt(sym.size);
    const bytes = Uint8Array.from(k.mem.bytes(start, sym.size));
    const opAt = k.mem.u64(k.sym('ftrace_regs_caller_op_ptr'));
    const callAt = k.mem.u64(k.sym('ftrace_regs_call'));
    const bad = (what: string) => new FtraceError('EINVAL', `ftrace_regs_caller cannot be copied: ${what}`);
    let used = 0;
    let sawOp = false;
    let sawCall = false;
    for (const insn of disassemble(bytes, start)) {
      used += insn.size;
      const text = formatInsn(insn);
      if (insn.address === opAt) {
        sawOp = insn.mnemonic === 'movabs' && insn.size === MOVABS_SIZE && /^rdx, 0$/.test(insn.opStr);
        if (!sawOp) throw bad(`op load at 0x${opAt.toString(16)} is '${text}', not movabs rdx, 0`);
        continue;
      }
      if (insn.address === callAt) {
        sawCall =
          insn.mnemonic === 'call' && insn.size === CALL_SIZE && /^0x[0-9a-f]+$/.test(insn.opStr) && BigInt(insn.opStr) === this.listFunc;
        if (!sawCall) throw bad(`call at 0x${callAt.toString(16)} is '${text}', not call ftrace_ops_list_func`);
        continue;
      }
      // anything relative to rip, or a branch with a target outside the function, would break in a copy
      if (/\brip\b/.test(insn.opStr)) throw bad(`'${text}' at 0x${insn.address.toString(16)} is rip-relative`);
      if (
        (insn.mnemonic === 'call' || insn.mnemonic.startsWith('j') || insn.mnemonic.startsWith('loop')) &&
        /^0x[0-9a-f]+$/.test(insn.opStr)
      ) {
        const target = BigInt(insn.opStr);
        if (target < start || target >= end) throw bad(`'${text}' at 0x${insn.address.toString(16)} reaches outside it`);
      }
    }
    if (used !== bytes.length) throw bad(`only ${used} of its ${bytes.length} bytes decode`);
    if (!sawOp || !sawCall) throw bad('a patch point is missing');
    this.template = { start, bytes, opOff: Number(opAt - start), callOff: Number(callAt - start) };
    return this.template;
  }

  /** Makes and installs the trampoline for the guest ops at `op` (arch_ftrace_update_trampoline). */
  create(op: bigint, owner: object, what: string): Trampoline {
    const tpl = this.checkedTemplate();
    const k = this.kernel;
    const size = tpl.bytes.length;
    const at = k.hostMem.alloc(size, 16, `ftrace trampoline for ${what}`);
    const code = Uint8Array.from(tpl.bytes);
    try {
      code.set(this.assembled(`movabs rdx, 0x${op.toString(16)}`, at + BigInt(tpl.opOff), MOVABS_SIZE), tpl.opOff);
      code.set(this.assembled(`call 0x${this.assistFunc.toString(16)}`, at + BigInt(tpl.callOff), CALL_SIZE), tpl.callOff);
    } catch (e) {
      k.hostMem.release(at);
      throw e;
    }
    k.machine.writeCode(at, code);
    const id = `${TRAMPOLINE_MODULE}#${this.seq++}`;
    const t = new Trampoline(at, size, op, SymbolTable.single(TRAMPOLINE_MODULE, TRAMPOLINE_SYMBOL, at, size), id, owner);
    this.unwinder.addCopy(id, at, size, tpl.start);
    k.kallsyms.addModule(t.symbols);
    this.live.add(t);
    return t;
  }

  private assembled(text: string, address: bigint, size: number): Uint8Array {
    const mc = assemble(text, address);
    if (mc.length !== size)
      throw new FtraceError(
        'EINVAL',
        `'${text}' at 0x${address.toString(16)} assembled to ${mc.length} bytes (${hexBytes(mc)}), not ${size}`,
      );
    return mc;
  }

  /** Throws unless t is live and its call still goes to ftrace_ops_assist_func; returns the call's address. */
  checkLive(t: Trampoline): bigint {
    if (!this.live.has(t)) throw new FtraceError('EINVAL', `0x${t.address.toString(16)} is not a live trampoline`);
    const k = this.kernel;
    const callAt = t.address + BigInt(this.checkedTemplate().callOff);
    const [insn] = disassemble(k.mem.bytes(callAt, CALL_SIZE), callAt, 1);
    if (!insn || insn.mnemonic !== 'call' || insn.opStr !== `0x${this.assistFunc.toString(16)}`)
      throw new FtraceError(
        'EFAULT',
        `trampoline at 0x${t.address.toString(16)}: its call holds '${insn ? formatInsn(insn) : 'undecodable'}'`,
      );
    return callAt;
  }

  /**
   * Takes a trampoline out of use once no site calls it: its call now goes to the list function,
   * and its memory is freed after the tasks grace period (at once if no task can be in it).
   */
  retire(t: Trampoline): void {
    const callAt = this.checkLive(t);
    this.live.delete(t);
    const k = this.kernel;
    k.machine.writeCode(callAt, this.assembled(`call 0x${this.listFunc.toString(16)}`, callAt, CALL_SIZE));
    t.holdouts = new Map();
    for (const task of allTasks(k))
      if (task.onCpu || task.onRq || task.state === 0) t.holdouts.set(task.address, { nvcsw: task.nvcsw, qs: task.rcuTasksQs });
    this.retired.push(t);
    this.poll();
  }

  /** Frees every retired trampoline whose holdouts have all passed a quiescent state. */
  poll(): void {
    const k = this.kernel;
    const existing = new Set(allTasks(k).map((t) => t.address));
    const curr = new Map<bigint, number>();
    for (let cpu = 0; cpu < k.nrCpus; cpu++) curr.set(cpuCurr(k, cpu).address, cpu);
    const quiet = (address: bigint, then: Snapshot): boolean => {
      if (!existing.has(address)) return true; // exited and reaped
      const task = new Task(k, address);
      if (task.nvcsw !== then.nvcsw) return true; // switched voluntarily since
      if (task.rcuTasksQs !== then.qs) return true; // said so itself (cond_resched_tasks_rcu_qs)
      const cpu = curr.get(address);
      if (task.isIdle) return this.idleQuiescent(task, cpu);
      // not running: quiet if asleep (runnable means maybe preempted in it)
      if (cpu === undefined) return !task.onRq;
      return (k.machine.cpus[cpu].readAll()[R.cs] & 3n) === 3n; // running in user mode
    };
    for (let i = 0; i < this.retired.length;) {
      const t = this.retired[i];
      for (const [address, then] of t.holdouts!)
        if (quiet(address, then)) {
          t.holdouts!.delete(address);
          k.machine.noteHostEffect(); // the host's own state: a checkpoint of the machine does not hold it
        }
      if (t.holdouts!.size) {
        i++;
        continue;
      }
      this.retired.splice(i, 1);
      this.free(t);
    }
    const ready = this.waiting.filter((w) => ![...w.until].some((t) => this.retired.includes(t)));
    if (!ready.length) return;
    k.machine.noteHostEffect();
    this.waiting = this.waiting.filter((w) => !ready.includes(w));
    for (const w of ready) w.fn();
  }

  /**
   * An idle task is quiescent only at the points of its loop that lie outside any traced call:
   * running on a vCPU halted in the loop's hlt (or in cpu_play_dead(), offline), or switched
   * out through schedule_idle() straight from the loop, its stack a plain call chain. An idle
   * task stopped anywhere else -- interrupted, preempted (an interrupt frame on its stack), or
   * still booting its cpu -- may be inside a trampoline, and is not.
   */
  private idleQuiescent(task: Task, cpu: number | undefined): boolean {
    const k = this.kernel;
    const fn = (ip: bigint) => k.image.symbolAt(ip)?.name;
    if (cpu !== undefined) {
      const c = k.machine.cpus[cpu];
      return (c.halted || c.dead) && ['cpu_startup_entry', 'cpu_play_dead'].includes(fn(c.rip) ?? '');
    }
    // off its cpu: nothing but the scheduler's frames above the loop (schedule_idle() is a
    // tail call, so its caller's return address follows __schedule's frame directly)
    const trace = this.unwinder.trace(task, 8);
    if (!trace.reliable) return false;
    const loop = trace.entries.findIndex((ip) => fn(ip) === 'cpu_startup_entry');
    return loop > 0 && trace.entries.slice(0, loop).every((ip) => SCHEDULER_FRAMES.includes(fn(ip) ?? ''));
  }

  /**
   * Runs fn once every trampoline retired by now (that served `owner`, if given) is freed, at
   * once if none is pending: a task
   * stopped in one may yet enter ftrace_ops_assist_func with its op, before the walk accounting
   * there covers it, so an op served by a trampoline outlives the trampoline (the kernel's
   * synchronize_rcu_tasks() before freeing a dynamic ops).
   */
  afterRetired(fn: () => void, owner?: object): void {
    const until = new Set(this.retired.filter((t) => owner === undefined || t.owner === owner));
    if (!until.size) return fn();
    this.waiting.push({ fn, until });
  }

  /** Callbacks waiting in afterRetired. */
  get waitingCallbacks(): number {
    return this.waiting.length;
  }

  /** The tasks a retired trampoline still waits for. */
  holdoutsOf(t: Trampoline): Task[] {
    return [...(t.holdouts?.keys() ?? [])].map((a) => new Task(this.kernel, a));
  }

  private free(t: Trampoline): void {
    const k = this.kernel;
    this.unwinder.removeModule(t.id);
    k.kallsyms.removeTable(t.symbols);
    for (const cpu of k.machine.cpus) cpu.uc.tbRemoveCache(t.address, t.address + BigInt(t.size));
    k.hostMem.release(t.address);
  }
}
