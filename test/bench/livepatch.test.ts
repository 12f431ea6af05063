// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch benchmark (bench/livepatch.ts) at a tiny size, so its code paths keep working:
 * timed transition passes that switch every sleeper and stay held, exact instruction counts of
 * a patched call in each state, and the basic scenario.
 */
import { describe, expect, it } from 'vitest';
import { formatLivepatch, measureLivepatch } from '../../bench/livepatch.ts';

describe('livepatch benchmark, tiny', () => {
  it('measures passes, call costs and the basic scenario, and reports them', async () => {
    const r = await measureLivepatch({
      taskCounts: [24],
      funcCounts: [1],
      costFuncs: [1, 5],
      passes: 2,
      warmup: 0,
      basicRepeats: 1,
      cold: false,
    });
    expect(r.byTasks.map((t) => t.funcs)).toEqual([20]);
    expect(r.byFuncs.map((t) => t.funcs)).toEqual([1]);
    for (const t of [...r.byTasks, ...r.byFuncs]) {
      expect(t.directions).toEqual(['unpatching', 'patching']);
      // 24 sleepers, the idle tasks, init, khostd, kbcall, two kbhold (one holds each pass), ...
      expect(t.tasks).toBeGreaterThan(24 + 6);
      // every sleeper switched (an idle task current on the other vCPU may not have)
      for (const n of t.switched) expect(n).toBeGreaterThanOrEqual(24);
      for (const ms of t.ms) expect(ms).toBeGreaterThan(0);
    }
    expect(r.costs.map((c) => c.funcs)).toEqual([1, 5]);
    for (const c of r.costs) {
      expect(c.unpatched.ran).toBe('original');
      expect(c.transitionUnpatched.ran).toBe('original');
      expect(c.transitionPatched.ran).toBe('new');
      expect(c.patched.ran).toBe('new');
      // the replacement has the original's body: what a patched call adds is livepatch's
      expect(c.transitionPatched.inNew).toBe(c.unpatched.insns);
      expect(c.patched.inNew).toBe(c.unpatched.insns);
      expect(c.transitionUnpatched.insns).toBeGreaterThan(c.unpatched.insns + 50);
      // out of transition the handler does not read the task's patch state
      expect(c.patched.insns).toBeLessThan(c.transitionPatched.insns);
    }
    // each patched function's site calls its own ops' trampoline: the cost of a patched call
    // does not grow with the number of patched functions (no walk of ftrace_ops_list)
    for (const state of ['unpatched', 'transitionUnpatched', 'transitionPatched', 'patched'] as const)
      expect(r.costs[1][state].insns, state).toBe(r.costs[0][state].insns);
    expect(r.basicMs[0]).toBeGreaterThan(0);
    const lines = formatLivepatch(r);
    expect(
      lines.some((l) =>
        /\d+ tasks, 20 patched functions, slower direction: [\d.]+ ms CPU \(wall [\d.]+ ms\), ratio [\d.]+ \[target <= 20 ms: (met|NOT met)\]/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(lines.some((l) => /^  unpatched: +\d+ +\d+$/.test(l))).toBe(true);
  });
});
