// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The events a schedule injects, done to a running lab the way a user or the rest of the
 * kernel would do them: a fork from a kernel thread, kill(2) of a user task, a write to a
 * cpu's `online` file, modprobe and rmmod of a target module, and the write to a patch's
 * `enabled` file that reverses its transition. Each runs with every vCPU stopped between two
 * rounds, never inside another host operation. One the kernel refuses (a cpu already down, a
 * module still in use) is logged with its error and the run goes on: a refusal is part of the
 * schedule, as deterministic as the rest.
 */
import { callGuest, cpuCurr, type HostTask, type Kernel, KernelOops, KernelPanic, perCpuAddress } from '../../kernel/index.ts';
import type { RunLimits, RunResult } from '../../emu/index.ts';
import type { Lab } from '../selftest.ts';
import { EVENT_MODULE, type InjectedEvent } from './schedule.ts';

/** kthread_run(kfork_child, arg, comm) from khostd: a fork by a kernel thread, as kforker does. */
function forkKthread(k: Kernel, n: number): void {
  const comm = `kxchild/${n}`;
  const at = k.hostMem.alloc(comm.length + 1, 16, 'comm of an injected fork');
  try {
    k.mem.write(at, new TextEncoder().encode(`${comm}\0`));
    function* fork(): HostTask<bigint> {
      return yield* callGuest(k.sym('kthread_run'), k.sym('kfork_child'), BigInt(n), at);
    }
    if (!k.host.run(`fork ${comm}`, fork())) throw new Error('kthread_run() failed');
  } finally {
    k.hostMem.release(at);
  }
}

/** Does one event now; a refusal goes into the log as a line of its own. */
export function fireEvent(lab: Lab, ev: InjectedEvent): void {
  const k = lab.k;
  try {
    switch (ev.kind) {
      case 'fork':
        lab.logCmd(`# explore: fork`);
        return forkKthread(k, ev.pick % 1000);
      case 'kill': {
        const users = k.tasks().filter((t) => !t.isKthread && !t.isIdle && !t.exiting && t.pid > 1);
        if (!users.length) return lab.logCmd('# explore: kill: no user task');
        const t = users[ev.pick % users.length];
        lab.logCmd(`kill ${t.pid}`);
        const ret = lab.kill(t.pid);
        if (ret) lab.log(`kill: (${t.pid}) - returned ${ret}`);
        return;
      }
      case 'cpu-down':
        return lab.cpuDown(ev.pick % k.nrCpus);
      case 'cpu-up':
        return lab.cpuUp(ev.pick % k.nrCpus);
      case 'insmod':
        lab.loadMod(EVENT_MODULE);
        return;
      case 'rmmod':
        return lab.unloadMod(EVENT_MODULE);
      case 'reverse': {
        const p = lab.lp.transitionPatch;
        if (!p) return lab.logCmd('# explore: reverse: no transition');
        const path = `/sys/kernel/livepatch/${p.name}/enabled`;
        const value = lab.lp.sysfsRead(path).trim() === '1' ? '0' : '1';
        lab.logCmd(`echo ${value} > ${path}`);
        return lab.lp.sysfsWrite(path, value);
      }
    }
  } catch (e) {
    const err = e instanceof AggregateError ? e.errors[0] : e;
    // the kernel's refusals are part of the run; an oops or a bug of ours is not
    if (
      !(err instanceof Error) ||
      err instanceof KernelOops ||
      err instanceof KernelPanic ||
      err instanceof TypeError ||
      err instanceof ReferenceError
    )
      throw e;
    lab.log(`explore: ${ev.kind} refused: ${err.message}`);
  }
}

/**
 * Places a round of fake signals (Schedule's signalsAtSyscall) where the retry work's rounds,
 * a second apart, almost never fall: in the few instructions between a system call's entry
 * and its first look at the task's signals. Once a transition has started, the first user
 * task still to switch that enters a system call gets a round right there, on its own cpu, as
 * if the retry work had interrupted it at that instruction; then the task goes on. One round
 * per transition (and per reversal); none if no such task enters the kernel pending.
 */
export function placeSignals(lab: Lab): () => void {
  const k = lab.k;
  const m = k.machine;
  const lp = lab.lp;
  const entry = k.sym('do_int80_syscall');
  let armed = false;
  let placed = '';
  const arm = (on: boolean) => {
    if (on === armed) return;
    armed = on;
    if (on) m.addBreakpoint(entry);
    else m.removeBreakpoint(entry);
  };
  const which = () =>
    lp.transitionPatch && lp.transition.started ? `${lp.transitionPatch.name}:${lp.targetState}:${lp.transition.forces}` : '';
  const afterHostCall = () => {
    const now = which();
    arm(now !== '' && now !== placed);
  };
  const locked = (at: bigint) => k.mem.u32(at + BigInt(k.layout.value('spinlock_t.locked'))) !== 0;
  const oSigLock = BigInt(k.layout.offset('task_struct', 'sig_lock'));
  const oPiLock = BigInt(k.layout.offset('task_struct', 'pi_lock'));
  const oRq = BigInt(k.layout.offset('pcpu', 'rq'));
  /*
   * The walk runs alone on the task's cpu, the other vCPUs stopped: it must not find a lock it
   * takes held by one of them. It takes tasklist_lock, and for each task it signals that
   * task's sig_lock and pi_lock and a runqueue's lock (rq.lock is struct rq's first member).
   */
  const walkCanRun = () => {
    if (locked(k.sym('tasklist_lock'))) return false;
    for (let c = 0; c < k.nrCpus; c++) if (locked(perCpuAddress(k, c) + oRq)) return false;
    for (const p of k.tasks())
      if (!p.isKthread && p.testTifFlag('TIF_PATCH_PENDING') && (locked(p.address + oSigLock) || locked(p.address + oPiLock))) return false;
    return true;
  };
  const previous = m.onDebugStop;
  m.onDebugStop = (stop) => {
    if (stop.pc !== entry || !armed) return previous?.(stop);
    const t = cpuCurr(k, stop.cpu);
    if (t.isKthread || !t.testTifFlag('TIF_PATCH_PENDING') || !walkCanRun()) return;
    placed = which();
    arm(false);
    lab.lp.transition.signalRoundNow((fn) => m.callOnCpu(stop.cpu, fn));
  };
  m.afterHostCall.push(afterHostCall);
  return () => {
    arm(false);
    m.afterHostCall.splice(m.afterHostCall.indexOf(afterHostCall), 1);
    m.onDebugStop = previous;
  };
}

/** Emulated time between two looks at the checker while the lab waits. */
const SLICE_NS = 20e6;

/**
 * Puts on `lab` an advance() that stops at each event's time to fire it, and every SLICE_NS
 * to ask `stop()` whether the run is over (a violation was seen): then it returns early, the
 * wait it serves sees its condition unmet, and the driver ends the run. `t0` is the emulated
 * time the event times count from. Returns the events still to fire at a given moment.
 */
export function injectEvents(lab: Lab, events: readonly InjectedEvent[], t0: number, stop: () => boolean): { fireDue(): void } {
  const k = lab.k;
  let next = 0;
  const dueNs = () => (next < events.length ? t0 + events[next].atMs * 1e6 : Infinity);
  const fireDue = () => {
    while (next < events.length && k.machine.clockNs >= dueNs()) fireEvent(lab, events[next++]);
  };
  lab.advance = (limits: RunLimits): RunResult => {
    const endNs = limits.ns !== undefined ? k.machine.clockNs + limits.ns : Infinity;
    const total: RunResult = { rounds: 0, ns: 0, insns: 0n, engineMs: 0, totalMs: 0, untilMet: false };
    for (;;) {
      fireDue();
      if (stop()) return total;
      const now = k.machine.clockNs;
      if (now >= endNs || (limits.rounds !== undefined && total.rounds >= limits.rounds)) return total;
      const sliceEnd = Math.min(endNs, dueNs(), now + SLICE_NS);
      const r = k.run({
        ns: Math.max(sliceEnd - now, 1),
        rounds: limits.rounds !== undefined ? limits.rounds - total.rounds : undefined,
        until: limits.until,
      });
      total.rounds += r.rounds;
      total.ns += r.ns;
      total.insns += r.insns;
      total.engineMs += r.engineMs;
      total.totalMs += r.totalMs;
      if (r.untilMet) {
        total.untilMet = true;
        return total;
      }
      if (r.stopped) return { ...total, stopped: r.stopped };
    }
  };
  return { fireDue };
}
