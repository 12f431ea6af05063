// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A booted lab kernel: the machine it runs on, the image it came from, its event log, and the
 * views of its data. run() turns the guest's own stops into typed errors: a fault becomes a
 * KernelOops carrying an oops report, a panic a KernelPanic with the panic message.
 */
import type { Machine, RunLimits, RunResult, GuestFault, GuestMemory } from '../emu/index.ts';
import type { KernelImage } from './image.ts';
import type { Layout } from './layout.ts';
import { EventLog } from './events.ts';
import { allTasks, cpuCurr, findTaskByPid, forEachTask, type Target, type Task } from './task.ts';
import { reportWarning } from './warn.ts';
import { formatOops } from './oops.ts';
import type { KernelUnwinder } from './stacktrace.ts';
import { imageSymbolizer, type Symbolizer } from './kallsyms.ts';
import type { Modules } from './modules.ts';
import { KernelDynamicDebug } from './dynamic-debug.ts';
import { HostMemory } from './hostmem.ts';
import { HostCalls } from './hostcall.ts';
import { UserProcesses } from './exec.ts';

export class KernelOops extends Error {
  constructor(
    readonly fault: GuestFault,
    readonly report: string,
  ) {
    super(`${fault.message}\n${report}`);
    this.name = 'KernelOops';
  }
}

export class KernelPanic extends Error {
  constructor(
    readonly cpu: number,
    readonly panicMessage: string,
  ) {
    super(`Kernel panic - not syncing: ${panicMessage} (cpu ${cpu})`);
    this.name = 'KernelPanic';
  }
}

export class Kernel implements Target {
  readonly log: EventLog;
  /** Guest memory above the firmware's heap, managed by the host. */
  readonly hostMem: HostMemory;
  /** Host calls and the work queue khostd serves. */
  readonly host: HostCalls;
  /**
   * The unwinder oops and WARN reports print call traces with; the lab's assembly
   * (src/lab/lab.ts) hands it the ORC unwinder, which the kernel itself does not know.
   */
  unwinder?: KernelUnwinder;
  /** The kernel's module list, once the lab's assembly made it (reports print its modules). */
  modules?: Modules;
  private _kallsyms?: Symbolizer;
  private _dynamicDebug?: KernelDynamicDebug;
  private _processes?: UserProcesses;
  private readonly syms = new Map<string, bigint>();

  constructor(
    readonly machine: Machine,
    readonly image: KernelImage,
    hostStart: bigint,
    logCapacity?: number,
  ) {
    this.hostMem = new HostMemory(machine.mem, hostStart, machine.mem.end);
    this.log = new EventLog(this, logCapacity);
    this.host = new HostCalls(this);
    machine.onHostCall(image.layout.constant('HC_WARN'), (cpu, a) => reportWarning(this, cpu, a, this.unwinder));
    machine.afterRound.push(() => this.log.poll());
  }

  /**
   * kallsyms: the image's text symbols, and those of every module and ftrace trampoline while
   * it is there (they add and remove their own tables). Built on first use.
   */
  get kallsyms(): Symbolizer {
    return (this._kallsyms ??= imageSymbolizer(this.image.elf));
  }

  /** The dynamic debug control table (every pr_debug off until a query turns it on). Built on first use. */
  get dynamicDebug(): KernelDynamicDebug {
    return (this._dynamicDebug ??= new KernelDynamicDebug(this));
  }

  /** The user tasks host processes stand for (exec.ts). Built on first use. */
  get processes(): UserProcesses {
    return (this._processes ??= new UserProcesses(this));
  }

  get mem(): GuestMemory {
    return this.machine.mem;
  }
  get layout(): Layout {
    return this.image.layout;
  }
  get nrCpus(): number {
    return this.machine.cpus.length;
  }

  sym(name: string): bigint {
    let v = this.syms.get(name);
    if (v === undefined) {
      v = this.image.symbol(name);
      this.syms.set(name, v);
    }
    return v;
  }

  /** Runs the machine; a guest fault or panic is thrown as KernelOops / KernelPanic. */
  run(limits: RunLimits): RunResult {
    const res = this.machine.run(limits);
    const s = res.stopped;
    if (s?.kind === 'fault') {
      this.log.noteStop(this.machine.lostCpus.includes(s.fault.cpu) ? 'lost cpu' : 'oops', s.fault.message, s.fault.cpu);
      throw new KernelOops(s.fault, formatOops(this, s.fault, this.unwinder));
    }
    if (s?.kind === 'panic') {
      this.log.noteStop('panic', `cpu ${s.cpu}: ${s.message}`, s.cpu);
      throw new KernelPanic(s.cpu, s.message);
    }
    return res;
  }

  /** Runs for ms emulated milliseconds. */
  runFor(ms: number): RunResult {
    return this.run({ ns: ms * 1e6 });
  }

  tasks(): Task[] {
    return allTasks(this);
  }

  forEachTask(): Iterable<Task> {
    return forEachTask(this);
  }

  task(pid: number): Task | undefined {
    return findTaskByPid(this, pid);
  }

  cpuCurr(cpu: number): Task {
    return cpuCurr(this, cpu);
  }

  /** Reads a guest variable of a per-cpu array symbol: sym[index] of elemSize bytes. */
  readArray(sym: string, index: number, elemSize: 4 | 8): bigint {
    const a = this.sym(sym) + BigInt(index * elemSize);
    return elemSize === 8 ? this.mem.u64(a) : BigInt(this.mem.u32(a));
  }

  close(): void {
    this.machine.close();
  }
}
