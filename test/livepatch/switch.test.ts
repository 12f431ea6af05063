// SPDX-License-Identifier: GPL-2.0-or-later
// The consistency model's rules (src/livepatch/switch.ts) on a fake task list, no firmware:
// which range a task must not be inside, what keeps a task from switching (no reliable
// stacks, running on another cpu, an unreliable trace, a return address inside a forbidden
// range), the walk of a pass (threads, then each cpu's idle task: woken if online, switched as
// it is if offline) and when the fake signals go out.
import { describe, expect, it } from 'vitest';
import { KLP_PATCHED, KLP_UNPATCHED } from '../../src/livepatch/structs.ts';
import {
  ForbiddenRanges,
  forbiddenRange,
  type KlpStackReader,
  type KlpSwitchTask,
  SIGNALS_TIMEOUT,
  signalsDue,
  switchVerdict,
  tryCompletePass,
} from '../../src/livepatch/switch.ts';

/** A task of the fake list: its state, the cpu it is current on (-1: none), its stack (null: unreliable). */
class FakeTask implements KlpSwitchTask {
  pending = true;
  constructor(
    readonly address: bigint,
    public patchState: number,
    public stack: number[] | null = [],
    public cpu = -1,
  ) {}
  currentOn(): number {
    return this.cpu;
  }
}

/** The fake tasks' stacks as an unwinder leaves them: a count, and the entries in a shared buffer. */
class FakeStacks implements KlpStackReader<FakeTask> {
  entries: number[] = [];
  reliableStack(t: FakeTask): number {
    if (!t.stack) return -1;
    this.entries = t.stack;
    return t.stack.length;
  }
}

const stacks = new FakeStacks();

/** Two patched functions: deep_c at [0x1000, 0x1080), deep_d at [0x2000, 0x2040). */
function ranges(): ForbiddenRanges {
  const r = new ForbiddenRanges();
  r.add('deep_c', 0x1000, 0x1080);
  r.add('deep_d', 0x2000, 0x2040);
  return r;
}

const verdict = (t: FakeTask, current: FakeTask | null = null, reliable = true) => switchVerdict(t, current, reliable, stacks, ranges());

describe('klp_check_stack_func(): the range a task must not be inside', () => {
  const func = { oldFunc: 0x1000n, oldSize: 0x80, newFunc: 0x9000n, newSize: 0x40 };
  const prev = { oldFunc: 0x1000n, oldSize: 0x80, newFunc: 0x7000n, newSize: 0x30 };

  it('unpatching: the func new code, whatever is below it', () => {
    expect(forbiddenRange(KLP_UNPATCHED, func, undefined)).toEqual([0x9000n, 0x40n]);
    expect(forbiddenRange(KLP_UNPATCHED, func, prev)).toEqual([0x9000n, 0x40n]);
  });

  it('patching: the original function when the func is alone on its stack', () => {
    expect(forbiddenRange(KLP_PATCHED, func, undefined)).toEqual([0x1000n, 0x80n]);
  });

  it('patching over an older patch: the code the older func gave the task', () => {
    expect(forbiddenRange(KLP_PATCHED, func, prev)).toEqual([0x7000n, 0x30n]);
  });
});

describe('klp_try_switch_task(): what keeps a task from switching', () => {
  it('a sleeping task with no return address in a forbidden range switches', () => {
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, [0x500, 0x1080, 0x1fff, 0x2040, 0x3000]))).toEqual({ ok: true });
  });

  it('a return address inside a range blocks it, named after that func; the ends are [lo, hi)', () => {
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, [0x500, 0x1000]))).toEqual({ ok: false, why: 'sleeping on function', func: 'deep_c' });
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, [0x107f]))).toEqual({ ok: false, why: 'sleeping on function', func: 'deep_c' });
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, [0x3000, 0x2010]))).toEqual({ ok: false, why: 'sleeping on function', func: 'deep_d' });
  });

  it('inside the hull but between the ranges is no obstacle', () => {
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, [0x1800]))).toEqual({ ok: true });
  });

  it('a function not in RAM (NaN offsets) blocks nothing', () => {
    const r = new ForbiddenRanges();
    r.add('gone', NaN, NaN);
    expect(switchVerdict(new FakeTask(1n, KLP_UNPATCHED, [0, 0x1000]), null, true, stacks, r)).toEqual({ ok: true });
  });

  it('an unreliable trace blocks it', () => {
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, null))).toEqual({ ok: false, why: 'unreliable stack' });
  });

  it('a task current on a cpu is running, its stack not looked at; unless it is the caller', () => {
    const t = new FakeTask(1n, KLP_UNPATCHED, [0x500], 2);
    expect(verdict(t)).toEqual({ ok: false, why: 'running' });
    expect(verdict(t, new FakeTask(2n, KLP_UNPATCHED, [], 0))).toEqual({ ok: false, why: 'running' });
    expect(verdict(t, t)).toEqual({ ok: true });
    t.stack = [0x2000];
    expect(verdict(t, t)).toEqual({ ok: false, why: 'sleeping on function', func: 'deep_d' });
  });

  it('without reliable stack traces no task switches by a check', () => {
    expect(verdict(new FakeTask(1n, KLP_UNPATCHED, []), null, false)).toEqual({ ok: false, why: 'no reliable stacktrace' });
  });
});

/** A fake machine: threads, one idle task per cpu, which cpus are online; what a pass did. */
function fakeMachine(threads: FakeTask[], idle: FakeTask[], online: boolean[]) {
  const tried: bigint[] = [];
  const woken: number[] = [];
  const target = KLP_PATCHED;
  const walk = { nrCpus: idle.length, threads: () => threads, idleTask: (c: number) => idle[c], cpuOnline: (c: number) => online[c] };
  const act = {
    trySwitchTask(t: FakeTask): boolean {
      tried.push(t.address);
      if (t.patchState === target) return true;
      if (!switchVerdict(t, null, true, stacks, ranges()).ok) return false;
      act.switchTask(t);
      return true;
    },
    switchTask(t: FakeTask): void {
      t.pending = false;
      t.patchState = target;
    },
    wakeUpIfIdle: (c: number) => void woken.push(c),
  };
  return { pass: () => tryCompletePass(walk, target, act), tried, woken };
}

describe('klp_try_complete_transition(): one pass over the tasks', () => {
  it('tries every thread in list order, then each cpu idle task, none skipped after a failure', () => {
    const threads = [
      new FakeTask(10n, KLP_UNPATCHED, [0x1010]),
      new FakeTask(11n, KLP_UNPATCHED, []),
      new FakeTask(12n, KLP_UNPATCHED, [], 1),
    ];
    const idle = [new FakeTask(1n, KLP_UNPATCHED, []), new FakeTask(2n, KLP_UNPATCHED, [])];
    const m = fakeMachine(threads, idle, [true, true]);
    expect(m.pass()).toBe(false);
    expect(m.tried).toEqual([10n, 11n, 12n, 1n, 2n]);
    expect(threads.map((t) => t.patchState)).toEqual([KLP_UNPATCHED, KLP_PATCHED, KLP_UNPATCHED]);
    expect(threads.map((t) => t.pending)).toEqual([true, false, true]);
  });

  it('an online cpu whose idle task cannot switch is woken to pass its idle loop', () => {
    const idle = [new FakeTask(1n, KLP_UNPATCHED, [], 0), new FakeTask(2n, KLP_UNPATCHED, []), new FakeTask(3n, KLP_UNPATCHED, null)];
    const m = fakeMachine([], idle, [true, true, true]);
    expect(m.pass()).toBe(false);
    expect(m.woken).toEqual([0, 2]);
    expect(idle.map((t) => t.patchState)).toEqual([KLP_UNPATCHED, KLP_PATCHED, KLP_UNPATCHED]);
  });

  it('an offline cpu idle task switches as it is, without a look at its stack, and is not woken', () => {
    const idle = [new FakeTask(1n, KLP_UNPATCHED, []), new FakeTask(2n, KLP_UNPATCHED, [0x1000], 1)];
    const m = fakeMachine([], idle, [true, false]);
    expect(m.pass()).toBe(true);
    expect(m.tried).toEqual([1n]);
    expect(m.woken).toEqual([]);
    expect(idle.map((t) => [t.patchState, t.pending])).toEqual([
      [KLP_PATCHED, false],
      [KLP_PATCHED, false],
    ]);
  });

  it('complete once every task is at the target; a later pass finishes what an earlier left', () => {
    const sleeper = new FakeTask(10n, KLP_UNPATCHED, [0x2000]);
    const m = fakeMachine([sleeper, new FakeTask(11n, KLP_PATCHED, [0x2000])], [new FakeTask(1n, KLP_UNPATCHED, [])], [true]);
    expect(m.pass()).toBe(false);
    sleeper.stack = [0x500];
    expect(m.pass()).toBe(true);
    expect(sleeper.patchState).toBe(KLP_PATCHED);
  });
});

describe('klp_send_signals(): when the fake signals go out', () => {
  it(`every ${SIGNALS_TIMEOUT} passes that left tasks behind, never on the first`, () => {
    const sent: number[] = [];
    for (let cnt = 0; cnt <= 3 * SIGNALS_TIMEOUT; cnt++) if (signalsDue(cnt)) sent.push(cnt);
    expect(sent).toEqual([SIGNALS_TIMEOUT, 2 * SIGNALS_TIMEOUT, 3 * SIGNALS_TIMEOUT]);
  });
});
