// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The schedule explorer (src/lab/explore/): schedules are a function of campaign seed and
 * index, events land at their emulated times, a run is a function of its schedule, the fork
 * race of 747f7a290117 is found with its quirk and not without, what is found shrinks and
 * replays bit for bit, and shards and worker threads cover exactly the indices of one plain
 * campaign with the same first violation.
 */
import { describe, expect, it } from 'vitest';
import { withLab } from '../helpers.ts';
import { findQuirk } from '../../src/lab/quirks.ts';
import type { Scenario } from '../../src/lab/scenario.ts';
import { describeSchedule, generateSchedule, PREEMPTION_POINTS, type Schedule, STALL_MS } from '../../src/lab/explore/schedule.ts';
import { preemptionPoint } from '../../src/lab/explore/stall.ts';
import { disassemble } from '../../src/emu/index.ts';
import { injectEvents } from '../../src/lab/explore/inject.ts';
import { runSchedule } from '../../src/lab/explore/run.ts';
import { shrinkSchedule } from '../../src/lab/explore/shrink.ts';
import { replay } from '../../src/lab/explore/replay.ts';
import { explore, mergeShards, parseShard, shardResult, writeShardResult, type CampaignOptions } from '../../src/lab/explore/campaign.ts';
import { resolveScenario, ExploreError } from '../../src/lab/explore/scenarios.ts';
import { attachConsistencyChecker } from '../../src/lab/checker.ts';
import { parseStep, runStep } from '../../src/lab/steps.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const checker = attachConsistencyChecker;
const checkerRef = { module: new URL('../../src/lab/checker.ts', import.meta.url).href, name: 'attachConsistencyChecker' };
const fork = findQuirk('fork-race')!;

/** A short session on an idle machine: its transitions complete within a few hundred ms. */
const QUICK: Scenario = {
  name: 'quick',
  description: 'a patch loaded and disabled on an idle machine',
  boot: { cpus: 2, workload: 'idle' },
  steps: ['run:20', 'load:test_klp_livepatch', 'disable:test_klp_livepatch', 'rmmod:test_klp_livepatch'],
};

describe('schedules', () => {
  it('are a function of the campaign seed and the index', () => {
    const a = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => generateSchedule(fork.scenario, 7n, i));
    const b = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => generateSchedule(fork.scenario, 7n, i));
    expect(b).toEqual(a);
    expect(new Set(a.map((s) => s.seed)).size).toBe(a.length);
    expect(generateSchedule(fork.scenario, 8n, 0).seed).not.toBe(a[0].seed);
    // events are sorted by time, within the scenario's horizon, a cpu taken down is not cpu 0
    const many = Array.from({ length: 200 }, (_x, i) => generateSchedule(fork.scenario, 1n, i));
    for (const s of many) {
      expect(s.events.map((e) => e.atMs)).toEqual([...s.events.map((e) => e.atMs)].sort((x, y) => x - y));
      for (const e of s.events) if (e.kind === 'cpu-down') expect(e.pick).toBeGreaterThan(0);
      expect(s.events.length).toBeLessThanOrEqual(4);
    }
    const kinds = new Set(many.flatMap((s) => s.events.map((e) => e.kind)));
    expect([...kinds].sort()).toEqual(['cpu-down', 'cpu-up', 'fork', 'insmod', 'kill', 'reverse', 'rmmod']);
    expect(new Set(many.map((s) => s.quantum)).size).toBeGreaterThan(3);
    expect(new Set(many.map((s) => s.preempt))).toEqual(new Set(['none', 'full']));
    // about half hold a vCPU up, at a point of the code that matters, within the horizon
    const stalls = many.flatMap((s) => (s.stall ? [s.stall] : []));
    expect(stalls.length).toBeGreaterThan(70);
    expect(stalls.length).toBeLessThan(130);
    for (const st of stalls) {
      expect(PREEMPTION_POINTS).toContain(st.fn);
      expect(STALL_MS).toContain(st.ms);
      expect(st.cpu).toBeLessThan(4);
      expect(st.nth).toBeGreaterThanOrEqual(1);
    }
    expect(new Set(stalls.map((st) => st.fn))).toEqual(new Set(PREEMPTION_POINTS));
  });
});

describe('injected events', () => {
  it('each happens at its emulated time, between two rounds, in the log', async () => {
    await withLab({ cpus: 4, workload: 'default', seed: 3 }, (lab) => {
      const t0 = lab.k.machine.clockNs;
      const inject = injectEvents(
        lab,
        [
          { atMs: 10, kind: 'fork', pick: 7 },
          { atMs: 20, kind: 'kill', pick: 3 },
          { atMs: 30, kind: 'cpu-down', pick: 2 },
          { atMs: 40, kind: 'insmod', pick: 0 },
          { atMs: 130, kind: 'reverse', pick: 0 },
          { atMs: 140, kind: 'rmmod', pick: 0 },
          { atMs: 150, kind: 'cpu-up', pick: 2 },
        ],
        t0,
        () => false,
      );
      for (const s of ['run:100', 'insmod:test_klp_livepatch', 'run:100']) {
        inject.fireDue();
        runStep(lab, parseStep(s));
      }
      const lines = lab.k.log.events.filter((e) => e.type === 'printk' && e.tsNs >= t0);
      const at = (re: RegExp) => lines.find((e) => re.test(e.text));
      expect(at(/^% # explore: fork$/)!.tsNs).toBeGreaterThanOrEqual(t0 + 10e6);
      expect(lab.k.tasks().some((t) => t.comm === 'kxchild/7')).toBe(true);
      expect(at(/^% kill \d+$/)!.tsNs).toBeGreaterThanOrEqual(t0 + 20e6);
      expect(at(/^smpboot: CPU 2 is now offline$/)).toBeDefined();
      expect(at(/^test_klp_callbacks_mod: test_klp_callbacks_mod_init$/)).toBeDefined();
      expect(at(/^test_klp_callbacks_mod: test_klp_callbacks_mod_exit$/)).toBeDefined();
      expect(at(/^smp: CPU2 is up$/)).toBeDefined();
      // the reversal came before the patch was loaded: nothing to reverse, and said so
      expect(at(/^% # explore: reverse: no transition$/)).toBeDefined();
      const order = [
        'explore: fork',
        'kill',
        'cpu2/online',
        'modprobe test_klp_callbacks_mod',
        'reverse',
        'rmmod',
        'echo 1 > /sys/devices/system/cpu/cpu2',
      ];
      const idx = order.map((w) => lines.findIndex((e) => e.text.startsWith('%') && e.text.includes(w)));
      expect(idx.every((i) => i >= 0)).toBe(true);
      expect([...idx].sort((x, y) => x - y)).toEqual(idx);
    });
  });

  it('a reversal during a transition reverses it; a refused event is logged and the run goes on', async () => {
    await withLab({ cpus: 2, workload: 'default', seed: 1 }, (lab) => {
      const t0 = lab.k.machine.clockNs;
      const inject = injectEvents(
        lab,
        [
          { atMs: 0, kind: 'rmmod', pick: 0 },
          { atMs: 0, kind: 'cpu-up', pick: 1 },
          { atMs: 40, kind: 'reverse', pick: 0 },
        ],
        t0,
        () => false,
      );
      for (const s of ['insmod:test_klp_livepatch', 'wait:test_klp_livepatch']) {
        inject.fireDue();
        runStep(lab, parseStep(s));
      }
      const text = lab.k.log.events.filter((e) => e.type === 'printk' && e.tsNs >= t0).map((e) => e.text);
      expect(text).toContainEqual(expect.stringMatching(/^explore: rmmod refused: .*test_klp_callbacks_mod/));
      expect(text).toContainEqual(expect.stringMatching(/^explore: cpu-up refused: cpu 1: /));
      expect(text).toContain('% echo 0 > /sys/kernel/livepatch/test_klp_livepatch/enabled');
      expect(text).toContain("livepatch: 'test_klp_livepatch': unpatching complete");
      expect(text).not.toContain("livepatch: 'test_klp_livepatch': patching complete");
    });
  });
});

describe('runs', () => {
  it('the same schedule twice gives the same log, bit for bit, events and all', async () => {
    const s: Schedule = {
      ...generateSchedule(QUICK, 1n, 0),
      events: [
        { atMs: 5, kind: 'fork', pick: 1 },
        { atMs: 25, kind: 'reverse', pick: 0 },
        { atMs: 30, kind: 'cpu-down', pick: 1 },
        { atMs: 90, kind: 'cpu-up', pick: 1 },
      ],
    };
    const a = await runSchedule(QUICK, s, checker);
    const b = await runSchedule(QUICK, s, checker);
    expect(b.digest).toBe(a.digest);
    expect(b.outcome).toBe(a.outcome);
    const c = await runSchedule(QUICK, { ...s, events: s.events.slice(0, 1) }, checker);
    expect(c.digest).not.toBe(a.digest);
  });
});

describe('the fork race (747f7a290117)', () => {
  const withQuirk = resolveScenario(undefined, 'fork-race');
  const without = resolveScenario('fork-race', undefined);

  it('the quirk alone names its scenario with the quirk; the name alone, the same without it', () => {
    expect(withQuirk.scenario.boot.quirks).toEqual([fork.constant]);
    expect(without.scenario.boot.quirks).toEqual([]);
    expect(without.scenario.steps).toEqual(withQuirk.scenario.steps);
    expect(() => resolveScenario('nope', undefined)).toThrow(ExploreError);
    expect(() => resolveScenario(undefined, 'nope')).toThrow(/unknown quirk 'nope': the lab has fork-race/);
  });

  it('is found with the quirk within 3 schedules, shrunk, and replayed bit for bit; without it, 3 schedules are clean', async () => {
    const base = { seed: 1n, runs: 3, checker, checkerRef, shrinkBudgetMs: 60_000 };
    const found = await explore({ ...base, ...withQuirk });
    expect(found.found).toBeDefined();
    const r = found.found!.replay;
    // a forked child pending although it already has the target state
    expect(r.violation.kind).toBe('pending-mismatch');
    expect(r.violation.message).toMatch(
      /^(kchild\/\d+|uchild):\d+ is pending with patch state 1 in the transition of 'test_klp_livepatch' to 1$/,
    );
    expect(r.violation.tasks[0].comm).toMatch(/^(kchild\/|uchild)/);
    expect(r.violation.tasks[0].stack).toContain('ret_from_fork+0x0/0x1e');
    // shrunk: no more steps than it takes
    expect(r.schedule.steps.length).toBeLessThan(withQuirk.scenario.steps.length);
    expect(r.quirk).toBe('fork-race');
    const again = await replay(r, checker);
    expect(again.sameDigest).toBe(true);
    expect(again.sameViolation).toBe(true);
    // the same campaign without the quirk: nothing, and every schedule run
    const clean = await explore({ ...base, ...without });
    expect(clean.found).toBeUndefined();
    expect(clean.schedules).toBe(3);
    expect(clean.indices).toEqual([0, 1, 2]);
  });

  it('shrinking drops the events and steps the violation does not need, keeping its kind', async () => {
    const s = generateSchedule(withQuirk.scenario, 1n, 5);
    expect(s.events.length).toBeGreaterThan(1);
    const o = await runSchedule(withQuirk.scenario, s, checker);
    expect(o.violation?.kind).toBe('pending-mismatch');
    const shrunk = await shrinkSchedule(withQuirk.scenario, s, o, checker);
    expect(shrunk.outcome.violation?.kind).toBe('pending-mismatch');
    expect(shrunk.schedule.events.length).toBeLessThan(s.events.length);
    expect(shrunk.schedule.steps.length).toBeLessThan(s.steps.length);
    expect(shrunk.kept).toBeGreaterThan(0);
    expect(describeSchedule(shrunk.schedule, withQuirk.scenario)).toMatch(/steps dropped/);
  });
});

describe('scale', () => {
  const base: CampaignOptions = { scenario: QUICK, seed: 5n, runs: 6, checker, checkerRef };

  it('K shards cover exactly the indices of one unsharded campaign, and --merge agrees', async () => {
    const whole = await explore(base);
    expect(whole.indices).toEqual([0, 1, 2, 3, 4, 5]);
    const dir = mkdtempSync(join(tmpdir(), 'klp-shards-'));
    try {
      const parts = [];
      for (let k = 0; k < 3; k++) {
        const o = { ...base, shard: { k, n: 3 } };
        const r = await explore(o);
        expect(r.indices).toEqual([k, k + 3]);
        writeShardResult(join(dir, `s${k}.json`), shardResult(o, r));
        parts.push(r);
      }
      expect(parts.flatMap((p) => p.indices).sort()).toEqual(whole.indices);
      expect(new Set(parts.flatMap((p) => p.outcomes))).toEqual(new Set(whole.outcomes));
      const m = mergeShards(dir);
      expect(m.indices).toEqual(whole.indices);
      expect(m.schedules).toBe(6);
      expect(m.missing).toEqual([]);
      expect(m.found).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two worker threads run the same schedules as this thread, with the same first violation', async () => {
    const one = await explore(base);
    const two = await explore({ ...base, workers: 2 });
    expect(two.indices).toEqual(one.indices);
    expect(two.outcomes).toEqual(one.outcomes);
    const q = resolveScenario(undefined, 'fork-race');
    const f1 = await explore({ ...base, ...q, runs: 4, shrink: false });
    const f2 = await explore({ ...base, ...q, runs: 4, shrink: false, workers: 2 });
    expect(f2.found!.index).toBe(f1.found!.index);
    expect(f2.found!.replay.digest).toBe(f1.found!.replay.digest);
  });

  it('a shard is K/N, or N with K from the batch engine', () => {
    expect(parseShard('2/5')).toEqual({ k: 2, n: 5 });
    expect(parseShard('5', '4')).toEqual({ k: 4, n: 5 });
    expect(() => parseShard('5/5')).toThrow(/bad shard index 5 of 5/);
    expect(() => parseShard('x')).toThrow(/bad shard 'x'/);
    expect(() => parseShard('0/0')).toThrow(/bad shard/);
    expect(() => parseShard('4')).toThrow(/no K, and neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID/);
  });
});

/**
 * Every quirk is found by the explorer from its scenario alone, of the kind the checker
 * reports for it (docs/history.md), and replays bit for bit; the same campaign without the
 * quirk is clean.
 */
describe('each quirk', () => {
  // the campaign's size: 2 schedules, or as many as the first violation of seed 1 needs
  const cases: Array<[string, string, number]> = [
    ['immediate', 'old-code-while-patched', 2],
    ['no-cond-resched', 'stall', 2],
    ['idle-not-woken', 'stall', 2],
    ['offline-idle', 'stall', 2],
    ['no-fake-signal', 'stall', 2],
    ['force-marks-all', 'unload-blocked', 2],
    ['forced-global', 'unload-blocked', 2],
    // found when a round of fake signals is placed at the waiter's entry into rt_sigsuspend, and
    // the waiter is the first task still to switch that enters the kernel (#30)
    ['sigpending', 'fake-signal-lost', 31],
  ];
  it.each(cases)('%s is found as %s and replayed; without it the campaign is clean', async (quirk, kind, runs) => {
    const base = { seed: 1n, runs, checker, checkerRef, shrinkBudgetMs: 20_000 };
    const found = await explore({ ...base, ...resolveScenario(undefined, quirk) });
    expect(found.found?.replay.violation.kind).toBe(kind);
    const again = await replay(found.found!.replay, checker);
    expect(again.sameDigest).toBe(true);
    expect(again.sameViolation).toBe(true);
    const clean = await explore({ ...base, ...resolveScenario(quirk, undefined) });
    expect(clean.found).toBeUndefined();
    expect(clean.schedules).toBe(runs);
  });
});

/**
 * 842c0884: a handler held up on an idle cpu between its reads of func->transition and of the
 * task's patch_state. Only a vCPU stall reaches that window (no quantum ends inside it).
 */
describe('the grace periods of 842c0884 (rcu-idle)', () => {
  const withQuirk = resolveScenario(undefined, 'rcu-idle');
  const without = resolveScenario('rcu-idle', undefined);

  /** The index of the handler's read of current->patch_state among its instructions. */
  async function patchStateReadInsn(): Promise<number> {
    return withLab({ cpus: 2, workload: 'idle' }, (lab) => {
      const sym = lab.k.image.elf.findSymbol('klp_ftrace_handler');
      const off = `+ 0x${lab.k.layout.offset('task_struct', 'patch_state').toString(16)}]`;
      const insns = disassemble(lab.k.mem.bytes(sym.value, sym.size), sym.value);
      const i = insns.findIndex((x) => x.mnemonic === 'mov' && x.opStr.endsWith(off));
      expect(i).toBeGreaterThan(0);
      expect(preemptionPoint(lab, { fn: 'klp_ftrace_handler', insn: i }).address).toBe(insns[i].address);
      return i;
    });
  }

  it('a fixed schedule holding cpu 1 there for a second: a WARN with the quirk, nothing without', async () => {
    const insn = await patchStateReadInsn();
    const schedule = (sc: Scenario): Schedule => ({
      ...generateSchedule(sc, 1n, 0),
      quantum: 5000,
      preempt: 'none',
      events: [],
      stall: { atMs: 400, cpu: 1, fn: 'klp_ftrace_handler', insn, nth: 1, ms: 1000 },
    });
    const bad = await runSchedule(withQuirk.scenario, schedule(withQuirk.scenario), checker);
    expect(bad.violation?.kind).toBe('warning');
    expect(bad.violation?.message).toMatch(/WARNING: CPU: 1 PID: 0 at kernel\/livepatch\.c:\d+ klp_ftrace_handler/);
    const good = await runSchedule(without.scenario, schedule(without.scenario), checker);
    expect(good.violation).toBeUndefined();
    expect(good.stepsDone).toBe(without.scenario.steps.length);
  });

  it('held there through the end of the unpatching transition, the patch module still loaded: its new code runs at rest', async () => {
    const insn = await patchStateReadInsn();
    const schedule = (sc: Scenario): Schedule => ({
      ...generateSchedule(sc, 1n, 0),
      quantum: 5000,
      preempt: 'none',
      // no rmmod: the func the handler holds stays mapped
      steps: sc.steps.map((_s, i) => i).filter((i) => !sc.steps[i].startsWith('rmmod:')),
      events: [],
      stall: { atMs: 1900, cpu: 1, fn: 'klp_ftrace_handler', insn, nth: 1, ms: 1000 },
    });
    const bad = await runSchedule(withQuirk.scenario, schedule(withQuirk.scenario), checker);
    expect(bad.violation?.kind).toBe('new-code-while-unpatched');
    expect(bad.violation?.message).toMatch(
      /^swapper\/1:0 \(cpu 1\) ran cpuidle_not_available\(\) of 'test_klp_idle' with patch state UNDEFINED at rest/,
    );
    const good = await runSchedule(without.scenario, schedule(without.scenario), checker);
    expect(good.violation).toBeUndefined();
  });

  it('is found by the explorer at schedule #275 of campaign 1, shrunk and replayed bit for bit; the same schedules without it are clean', async () => {
    const base = { seed: 1n, runs: 276, checker, checkerRef, shrinkBudgetMs: 30_000 };
    const found = await explore({ ...base, ...withQuirk });
    expect(found.found?.index).toBe(275);
    const r = found.found!.replay;
    expect(r.original?.stall ?? r.schedule.stall).toBeDefined();
    // the stall is what it takes: shrinking keeps it
    expect(r.schedule.stall?.fn).toBe('klp_ftrace_handler');
    const again = await replay(r, checker);
    expect(again.sameDigest).toBe(true);
    expect(again.sameViolation).toBe(true);
    const clean = await explore({ ...base, ...without });
    expect(clean.found).toBeUndefined();
    expect(clean.schedules).toBe(276);
  }, 600_000);
});
