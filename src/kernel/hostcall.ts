// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The host half of host calls (firmware/kernel/hostcall.c). A host call's implementation is a
 * generator: it runs with every vCPU stopped, and when it needs guest code to run (a livepatch
 * callback, a module's init) it yields the call; the guest runs it in the calling task and
 * resumes the generator with the result. So host code reads top to bottom, like the kernel
 * function it mirrors, while the guest code it calls runs as guest code in task context.
 *
 * HostWork is the queue khostd serves: work the host wants done in task context (a sysfs
 * write, the transition work). run() queues an item, rings HOST_EVENT_VECTOR and runs the
 * machine until the item is done.
 */
import type { HostCallArgs, Machine, Vcpu } from '../emu/index.ts';
import type { Kernel } from './kernel.ts';

/** A guest function the host wants called: fn(args...), up to four arguments. */
export interface GuestCall {
  fn: bigint;
  args?: readonly bigint[];
}
/** A host task: yields guest calls, receives their results, returns its own. */
export type HostTask<T> = Generator<GuestCall, T, bigint>;
export type HostCallImpl = (cpu: Vcpu, args: HostCallArgs) => HostTask<bigint | number>;

export class HostWorkTimeout extends Error {
  constructor(what: string, ns: number) {
    super(`host work '${what}' was not done by khostd within ${ns / 1e6} emulated ms`);
    this.name = 'HostWorkTimeout';
  }
}

/** Calls a guest function from a host task: `const r = yield* callGuest(fn, a, b)`. */
export function* callGuest(fn: bigint, ...args: bigint[]): HostTask<bigint> {
  return yield { fn, args };
}

interface WorkItem {
  what: string;
  task: HostTask<unknown>;
  state: 'queued' | 'running' | 'done' | 'failed';
  value?: unknown;
  error?: unknown;
}

export class HostCalls {
  /** Conversations in progress, by the guest's reply buffer (one per calling task). */
  private readonly inFlight = new Map<bigint, HostTask<bigint | number>>();
  private readonly queue: WorkItem[] = [];
  private readonly off: Record<'kind' | 'value' | 'fn' | 'args', bigint>;
  private readonly done: number;
  private readonly call: number;

  constructor(private readonly k: Kernel) {
    const L = k.layout;
    this.off = {
      kind: BigInt(L.offset('host_reply', 'kind')),
      value: BigInt(L.offset('host_reply', 'value')),
      fn: BigInt(L.offset('host_reply', 'fn')),
      args: BigInt(L.offset('host_reply', 'args')),
    };
    this.done = L.constant('HOST_REPLY_DONE');
    this.call = L.constant('HOST_REPLY_CALL');
    const m: Machine = k.machine;
    m.onHostCall(L.constant('HC_RESUME'), (_cpu, a) => this.resume(a.a0, a.a1));
    this.register(L.constant('HC_HOSTD_WORK'), () => this.nextWork());
  }

  /**
   * Implements host call `op`. The guest's host_call(op, a0, a1, a2) passes its reply buffer
   * first (rdi); the implementation sees the caller's own arguments as a0..a2.
   */
  register(op: number, impl: HostCallImpl): void {
    this.k.machine.onHostCall(op, (cpu, a) => {
      const task = impl(cpu, { op, a0: a.a1, a1: a.a2, a2: a.a3, a3: 0n });
      this.advance(a.a0, task, 0n, true);
    });
  }

  private resume(reply: bigint, value: bigint): void {
    const task = this.inFlight.get(reply);
    if (!task) throw new Error(`HC_RESUME for reply buffer 0x${reply.toString(16)} with no host call in flight`);
    this.advance(reply, task, value, false);
  }

  /** Runs task to its next guest call (or its end) and tells the guest which. */
  private advance(reply: bigint, task: HostTask<bigint | number>, value: bigint, first: boolean): void {
    const mem = this.k.mem;
    const r = first ? task.next() : task.next(value);
    if (r.done) {
      this.inFlight.delete(reply);
      mem.setU64(reply + this.off.kind, BigInt(this.done));
      mem.setU64(reply + this.off.value, BigInt(r.value));
      return;
    }
    this.inFlight.set(reply, task);
    const args = r.value.args ?? [];
    if (args.length > 4) throw new Error(`a guest call takes at most 4 arguments, not ${args.length}`);
    mem.setU64(reply + this.off.kind, BigInt(this.call));
    mem.setU64(reply + this.off.fn, r.value.fn);
    for (let i = 0; i < 4; i++) mem.setU64(reply + this.off.args + BigInt(8 * i), args[i] ?? 0n);
  }

  /** HC_HOSTD_WORK: khostd asks for the next item; 1 when it ran one, 0 when the queue is empty. */
  private *nextWork(): HostTask<number> {
    const item = this.queue.find((w) => w.state === 'queued');
    if (!item) return 0;
    item.state = 'running';
    try {
      item.value = yield* item.task;
      item.state = 'done';
    } catch (e) {
      item.error = e;
      item.state = 'failed';
    }
    this.queue.splice(this.queue.indexOf(item), 1);
    return 1;
  }

  /** Queues work for khostd and rings the doorbell; the machine must run for it to happen. */
  submit<T>(what: string, task: HostTask<T>): WorkItem {
    const item: WorkItem = { what, task, state: 'queued' };
    this.queue.push(item);
    this.k.mem.setU64(this.k.sym('hostd_pending'), 1n);
    this.k.machine.raiseInterrupt(0, this.k.layout.constant('HOST_EVENT_VECTOR'));
    return item;
  }

  /** Runs task in khostd's context and returns its result (a synchronous sysfs write). */
  run<T>(what: string, task: HostTask<T>, limitNs = 10e9): T {
    const item = this.submit(what, task);
    this.k.run({ ns: limitNs, until: () => item.state === 'done' || item.state === 'failed' });
    if (item.state === 'failed') throw item.error;
    if (item.state !== 'done') throw new HostWorkTimeout(what, limitNs);
    return item.value as T;
  }
}
