// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A lab that keeps running: the machine goes on in emulated time, a slice at a time, and gives
 * the Node event loop a turn between slices, so that a control socket (control.ts) can take
 * requests while the guest lives on -- as a kernel keeps running while a shell sleeps in
 * `loop_until`. A slice is synchronous and every vCPU is stopped between slices, so a request
 * always sees the machine at rest between two rounds, as any host code in the project does.
 *
 * Clock: free-running (as fast as the host allows) or paced to `pace` times real time. Pacing
 * never makes the guest catch up in a burst: when the host falls behind by more than MAX_LAG_MS,
 * or a request ran the machine ahead (a module load runs until its init returns), the pace is
 * re-anchored at the current instant, the way a paused virtual machine resumes.
 *
 * Determinism. Slices end only between rounds, and a slice boundary changes nothing in the
 * machine, so the guest's history is a function of the boot options and of which requests were
 * applied at which emulated instants. Where a request lands in emulated time depends on host
 * timing (the request arrives while some slice runs) and so does not repeat from one session to
 * the next; every request is recorded with the emulated time it was applied at
 * (`journal`), and `replayJournal()` applies the same requests at the same instants to a fresh
 * lab and gives the same kernel log, bit for bit.
 */
import { performance } from 'node:perf_hooks';
import { type BootOptions, KernelOops, KernelPanic } from '../kernel/index.ts';
import type { LivepatchOptions } from '../livepatch/index.ts';
import { Lab } from './selftest.ts';

/** Host milliseconds a slice may take: how long a request may wait for the machine to stop. */
const SLICE_HOST_MS = 4;
const KERN_EMERG = 0;
const KERN_ALERT = 1;
/**
 * Paced: how far (host ms) the guest may lag behind its pace before the pace is re-anchored. In
 * host time, not emulated time: a timer firing a few ms late on a busy host is a whole emulated
 * second at a pace of a few hundred, and dropping it each time would hold the lab to the
 * emulated time of one slice per timer, far below its pace.
 */
const MAX_LAG_MS = 50;

export type Pace = number | 'free';

export interface RunningLabOptions extends BootOptions, LivepatchOptions {
  /** Emulated seconds per real second, or 'free' (the default): as fast as the host allows. */
  pace?: Pace;
}

/** One request as applied: the emulated time it was applied at, and what it was. */
export interface JournalEntry<R = unknown> {
  readonly atNs: number;
  readonly request: R;
}

export type StopReason = { kind: 'request' } | { kind: 'failure'; error: Error };

export class RunningLabStoppedError extends Error {
  constructor(readonly reason: StopReason) {
    super(reason.kind === 'failure' ? `the lab has stopped: ${reason.error.message}` : 'the lab has stopped');
    this.name = 'RunningLabStoppedError';
  }
}

export class RunningLab {
  readonly journal: JournalEntry[] = [];
  /** Resolves once the machine has stopped for good (a stop request, or a guest failure). */
  readonly stopped: Promise<StopReason>;
  private stopReason?: StopReason;
  private stopRequested = false;
  private resolveStopped!: (r: StopReason) => void;
  private anchor = { realMs: 0, emuNs: 0 };
  /** Called after every slice and request (new log lines for kmsg readers, say). */
  private readonly watchers = new Set<() => void>();
  private changes = 0;

  private constructor(
    readonly lab: Lab,
    readonly pace: Pace,
  ) {
    if (pace !== 'free' && !(pace > 0 && Number.isFinite(pace)))
      throw new RangeError(`pace must be a positive number or 'free', not ${pace}`);
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.reanchor();
    void this.loop();
  }

  /** Boots a lab (Lab.boot) and sets it running. */
  static async start(opts: RunningLabOptions = {}): Promise<RunningLab> {
    const { pace = 'free', ...boot } = opts;
    return new RunningLab(await Lab.boot(boot), pace);
  }

  get isRunning(): boolean {
    return !this.stopReason;
  }

  /** Emulated nanoseconds since boot. */
  get clockNs(): number {
    return this.lab.k.machine.clockNs;
  }

  /**
   * Applies `request` through `apply` at the next slice boundary (every vCPU stopped) and
   * journals it with the emulated time; resolves to apply's result or rejects with its error. A
   * guest failure while applying (an oops, a panic) stops the lab.
   */
  submit<R, T>(request: R, apply: (lab: Lab, request: R) => T): Promise<T> {
    if (this.stopReason) return Promise.reject(new RunningLabStoppedError(this.stopReason));
    // JS runs one thing at a time: outside a slice the machine is stopped, so this is a boundary
    this.journal.push({ atNs: this.clockNs, request });
    try {
      return Promise.resolve(apply(this.lab, request));
    } catch (e) {
      if (isGuestFailure(e)) this.finish({ kind: 'failure', error: e as Error });
      return Promise.reject(e);
    } finally {
      this.reanchor();
      this.notify();
    }
  }

  /**
   * Counts the slices and requests so far: while it stays the same, nothing has run and the
   * machine is as it was (what a reader may cache, kernelfs.ts's tree of entries, say).
   */
  get generation(): number {
    return this.changes;
  }

  /** A callback after every slice and request; returns its removal. */
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Stops the machine at the next slice boundary; resolves when it has stopped. The lab stays open for reading. */
  stop(): Promise<StopReason> {
    this.stopRequested = true;
    return this.stopped;
  }

  /** Stops and frees the machine. */
  async close(): Promise<void> {
    await this.stop();
    this.lab.close();
  }

  private reanchor(): void {
    this.anchor = { realMs: performance.now(), emuNs: this.clockNs };
  }

  private notify(): void {
    this.changes++;
    for (const w of this.watchers) w();
  }

  private finish(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    // the kernel's own log ends with its oops or panic, where dmesg and /dev/kmsg readers see it
    if (reason.kind === 'failure') {
      const e = reason.error;
      const lines = e instanceof KernelOops ? e.report.split('\n') : e instanceof KernelPanic ? [e.message] : [];
      for (const line of lines) this.lab.k.log.hostPrintk(e instanceof KernelPanic ? KERN_EMERG : KERN_ALERT, line, this.clockNs);
    }
    this.notify();
    this.resolveStopped(reason);
  }

  private async loop(): Promise<void> {
    const m = this.lab.k.machine;
    while (!this.stopRequested && !this.stopReason) {
      const now = performance.now();
      const deadline = now + SLICE_HOST_MS;
      let targetNs = Infinity;
      if (this.pace !== 'free') {
        targetNs = this.anchor.emuNs + (now - this.anchor.realMs) * 1e6 * this.pace;
        if (targetNs - this.clockNs > MAX_LAG_MS * 1e6 * this.pace) {
          this.reanchor();
          targetNs = this.clockNs;
        }
      }
      if (this.clockNs < targetNs) {
        try {
          this.lab.k.run({ until: () => m.clockNs >= targetNs || performance.now() >= deadline });
        } catch (e) {
          this.finish({ kind: 'failure', error: e as Error });
          return;
        }
        this.notify();
      }
      // ahead of the pace: sleep until real time catches up (at most a slice), else just yield
      const aheadMs = this.pace === 'free' ? 0 : (this.clockNs - targetNs) / (1e6 * this.pace);
      await new Promise<void>((r) => (aheadMs > 0 ? setTimeout(r, Math.min(aheadMs, SLICE_HOST_MS)) : setImmediate(r)));
    }
    this.finish(this.stopReason ?? { kind: 'request' });
  }
}

function isGuestFailure(e: unknown): boolean {
  return e instanceof KernelOops || e instanceof KernelPanic;
}

/**
 * A fresh lab, booted with the same options, given the journal's requests at the journal's
 * emulated times, then run to `untilNs`: the same log as the session the journal came from.
 */
export async function replayJournal<R>(
  opts: BootOptions & LivepatchOptions,
  journal: readonly JournalEntry<R>[],
  apply: (lab: Lab, request: R) => unknown,
  untilNs: number,
): Promise<Lab> {
  const lab = await Lab.boot(opts);
  const runTo = (ns: number) => {
    if (lab.k.machine.clockNs < ns) lab.k.run({ ns: ns - lab.k.machine.clockNs });
  };
  for (const { atNs, request } of journal) {
    runTo(atNs);
    if (lab.k.machine.clockNs !== atNs) throw new Error(`replay: at ${lab.k.machine.clockNs} ns instead of ${atNs} ns: not the same run`);
    try {
      apply(lab, request);
    } catch {
      // a refused request is refused again: its effect (none) is what is replayed
    }
  }
  runTo(untilNs);
  return lab;
}
