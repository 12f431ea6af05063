// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The historic bugs of src/lab/quirks.ts, each seen directly on real firmware: the session of
 * the quirk's own scenario (its boot options and steps) with the quirk goes wrong in the way the
 * fix once prevented, and the same session without it does not. (The fork race has its own file,
 * fork-race.test.ts; docs/history.md tells each story.)
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import type { Lab } from '../../src/lab/selftest.ts';
import { findQuirk, QUIRKS, type Quirk } from '../../src/lab/quirks.ts';
import { DEFAULT_IMAGE, quirks } from '../../src/kernel/boot.ts';
import { KernelImage } from '../../src/kernel/image.ts';
import { parseStep, runStep } from '../../src/lab/steps.ts';
import { allTasks, idleTask, type Task } from '../../src/kernel/task.ts';
import { stackTraceSaveTskReliable } from '../../src/orc/unwind.ts';
import { KLP_UNPATCHED } from '../../src/livepatch/structs.ts';
import { disassemble } from '../../src/emu/index.ts';
import { attachChecker } from '../../src/lab/checker.ts';
import { placeSignals } from '../../src/lab/explore/inject.ts';

const boot = useLab({}, { start: false });

function quirk(name: string): Quirk {
  const q = findQuirk(name);
  if (!q) throw new Error(`no quirk ${name}`);
  return q;
}

/** The quirk's scenario's machine, with its quirk or without, and the core's debug lines on. */
async function bootScenario(q: Quirk, withQuirk: boolean): Promise<Lab> {
  const lab = await boot({ ...q.scenario.boot, seed: 1, quirks: withQuirk ? q.scenario.boot.quirks : [] });
  lab.dynamicDebug.write('file kernel/livepatch/* +p');
  lab.startTest();
  return lab;
}

/** Runs steps of the scenario in turn; the message of the first that fails, or undefined. */
function runSteps(lab: Lab, steps: readonly string[]): string | undefined {
  for (const s of steps) {
    try {
      runStep(lab, parseStep(s));
    } catch (e) {
      return (e as Error).message;
    }
  }
  return undefined;
}

const pending = (t: Task) => t.testTifFlag('TIF_PATCH_PENDING');

/** The functions on a task's reliable stack, innermost first; [] if it cannot be trusted. */
function stackFunctions(lab: Lab, t: Task): string[] {
  const trace = stackTraceSaveTskReliable(lab.k, t, 100);
  return trace.reliable ? trace.entries.map((a) => lab.modules.symbolize(a).replace(/\+.*/, '')) : [];
}

describe('the table of quirks', () => {
  it("matches the image's KLP_QUIRK_* constants one to one, each scenario booting with its own quirk alone", () => {
    const image = quirks(KernelImage.load(DEFAULT_IMAGE));
    expect(QUIRKS.map((q) => q.constant).sort()).toEqual([...image.keys()].sort());
    const bits = QUIRKS.map((q) => image.get(q.constant)!);
    expect(new Set(bits).size).toBe(bits.length);
    expect(new Set(QUIRKS.map((q) => q.name)).size).toBe(QUIRKS.length);
    for (const q of QUIRKS) {
      expect(q.scenario.boot.quirks, q.name).toEqual([q.constant]);
      expect(q.scenario.name).toBe(q.name);
      expect(q.commit, q.name).toMatch(/^[0-9a-f]{8}([0-9a-f]{4})?$/);
      expect(q.constant.toLowerCase().endsWith(q.commit.slice(0, 8)), q.name).toBe(true);
      for (const step of q.scenario.steps) expect(() => parseStep(step), step).not.toThrow();
      expect(findQuirk(q.name)).toBe(q);
      expect(findQuirk(q.constant)).toBe(q);
    }
  });
});

describe('d0807da7: immediate patches', () => {
  const q = quirk('immediate');
  const deepStat = (lab: Lab, i: number) => lab.k.mem.u64(lab.k.sym('deep_stats') + BigInt(8 * i));
  /** kdeep threads with the original deep_c on their stacks (the new one is livepatch_deep_c). */
  const inOldDeepC = (lab: Lab) => allTasks(lab.k).filter((t) => t.comm.startsWith('kdeep/') && stackFunctions(lab, t).includes('deep_c'));

  it('with the quirk, the patch completes while tasks sleep in the old deep_c, which they then return into', async () => {
    const lab = await bootScenario(q, true);
    const { k, lp } = lab;
    runSteps(lab, q.scenario.steps.slice(0, 1));
    expect(inOldDeepC(lab).length).toBeGreaterThan(0);
    runSteps(lab, ['insmod:test_klp_deep']);
    // no per-task state, no stack check: done within the module's own init
    expect(lp.transitionPatch).toBeNull();
    expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_deep': patching complete");
    const asleep = inOldDeepC(lab);
    expect(asleep.length).toBeGreaterThan(0);
    for (const t of asleep) expect(pending(t)).toBe(false);
    // the system counts as patched, yet the old deep_c goes on running (deep_stats[2] counts
    // its returns), next to the new one (deep_stats[7])
    const old0 = deepStat(lab, 2);
    const new0 = deepStat(lab, 7);
    k.runFor(1000);
    expect(deepStat(lab, 2)).toBeGreaterThan(old0);
    expect(deepStat(lab, 7)).toBeGreaterThan(new0);
    // and the module of an immediate patch is never released
    runSteps(lab, q.scenario.steps.slice(3));
    expect(runSteps(lab, ['rmmod:test_klp_deep'])).toMatch(/in use/);
  });

  it('without it, no task runs the old deep_c once it is switched, and the transition waits for them', async () => {
    const lab = await bootScenario(q, false);
    const { k, lp } = lab;
    runSteps(lab, q.scenario.steps.slice(0, 2));
    expect(lp.transitionPatch?.name).toBe('test_klp_deep');
    const new0 = deepStat(lab, 7);
    for (let rounds = 0; rounds < 200; rounds++) {
      k.run({ rounds: 1 });
      // every task still under the old deep_c is unpatched and pending
      for (const t of inOldDeepC(lab)) {
        expect(t.patchState, `${t}`).toBe(KLP_UNPATCHED);
        expect(pending(t)).toBe(true);
      }
    }
    expect(lp.transitionPatch?.name).toBe('test_klp_deep');
    // every kdeep is held up, so no one has run the new deep_c
    expect(deepStat(lab, 7)).toBe(new0);
    expect(runSteps(lab, q.scenario.steps.slice(2))).toBeUndefined();
    expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_deep': unpatching complete");
    expect(runSteps(lab, ['rmmod:test_klp_deep'])).toBeUndefined();
  });
});

describe('e3ff7c60: CPU-bound kthreads and cond_resched()', () => {
  const q = quirk('no-cond-resched');
  const condResched = (lab: Lab) => lab.k.mem.u32(lab.k.sym('klp_cond_resched_enabled'));
  const hogs = (lab: Lab) => allTasks(lab.k).filter((t) => t.comm.startsWith('khog/'));

  it('with the quirk, the hogs are always running when checked and the transition stalls', async () => {
    const lab = await bootScenario(q, true);
    expect(runSteps(lab, q.scenario.steps)).toMatch(/wait:test_klp_livepatch:timeout=5000' failed: .* still in transition/);
    expect(condResched(lab)).toBe(0);
    const stuck = hogs(lab).filter((t) => t.patchState === KLP_UNPATCHED && pending(t));
    expect(stuck.length).toBeGreaterThan(0);
    const lines = lab.logSinceStart();
    for (const t of stuck) expect(lines).toContain(`livepatch: klp_try_switch_task: ${t.comm}:${t.pid} is running`);
  });

  it('without it, cond_resched() switches them and the session completes', async () => {
    const lab = await bootScenario(q, false);
    runSteps(lab, q.scenario.steps.slice(0, 2));
    expect(condResched(lab)).toBe(1);
    expect(runSteps(lab, q.scenario.steps.slice(2))).toBeUndefined();
    expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_livepatch': patching complete");
    for (const t of hogs(lab)) expect(pending(t)).toBe(false);
  });
});

describe('5de62ea8: idle cpus woken to switch', () => {
  const q = quirk('idle-not-woken');

  it('with the quirk, the idle tasks of halted cpus stay pending and the transition stalls', async () => {
    const lab = await bootScenario(q, true);
    expect(runSteps(lab, q.scenario.steps)).toMatch(/wait:test_klp_livepatch:timeout=5000' failed/);
    const k = lab.k;
    const stuck = [0, 1, 2, 3].map((c) => idleTask(k, c)).filter((t) => pending(t));
    expect(stuck.length).toBeGreaterThan(0);
    for (const t of stuck) expect(t.patchState).toBe(KLP_UNPATCHED);
    expect(lab.logSinceStart()).toContain(`livepatch: klp_try_switch_task: ${stuck[0].comm}:0 is running`);
  });

  it('without it, they are woken and switch in their idle loop', async () => {
    const lab = await bootScenario(q, false);
    expect(runSteps(lab, q.scenario.steps)).toBeUndefined();
    expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_livepatch': patching complete");
  });
});

describe("1daf08a0: an offline cpu's idle task", () => {
  const q = quirk('offline-idle');

  it('with the quirk, it is checked as running, never switches, and holds the transition until the cpu is back', async () => {
    const lab = await bootScenario(q, true);
    const k = lab.k;
    expect(runSteps(lab, q.scenario.steps.slice(0, 3))).toBeUndefined();
    const insns = k.machine.cpus[2].insns;
    expect(runSteps(lab, q.scenario.steps.slice(3, 4))).toMatch(/still in transition/);
    const idle2 = idleTask(k, 2);
    expect(idle2.patchState).toBe(KLP_UNPATCHED);
    expect(pending(idle2)).toBe(true);
    expect(k.machine.cpus[2].insns).toBe(insns);
    expect(lab.logSinceStart()).toContain('livepatch: klp_try_switch_task: swapper/2:0 is running');
    // back online, it passes its idle loop's switch point, and the transition is over
    expect(runSteps(lab, ['online:2', 'wait:test_klp_livepatch:timeout=5000'])).toBeUndefined();
    expect(idle2.patchState).not.toBe(KLP_UNPATCHED);
  });

  it('without it, the offline idle task is switched as it is', async () => {
    const lab = await bootScenario(q, false);
    expect(runSteps(lab, q.scenario.steps)).toBeUndefined();
    const lines = lab.logSinceStart();
    const offline = lines.slice(0, lines.indexOf('% echo 1 > /sys/devices/system/cpu/cpu2/online'));
    expect(offline).toContain("livepatch: 'test_klp_livepatch': patching complete");
    expect(offline).not.toContain('livepatch: klp_try_switch_task: swapper/2:0 is running');
  });
});

describe('43347d56: the fake signal to blocking tasks', () => {
  const q = quirk('no-fake-signal');
  const sleeper = (lab: Lab) => allTasks(lab.k).find((t) => t.comm === 'ufsleep')!;

  it('with the quirk, a user task asleep in the patched futex_wait holds the transition forever', async () => {
    const lab = await bootScenario(q, true);
    expect(runSteps(lab, q.scenario.steps)).toMatch(/wait:test_klp_futex:timeout=30000' failed/);
    const t = sleeper(lab);
    expect(t.stateChar).toBe('S');
    expect(stackFunctions(lab, t)).toContain('sys_futex_wait');
    expect(t.patchState).toBe(KLP_UNPATCHED);
    const lines = lab.logSinceStart();
    expect(lines).not.toContain('livepatch: signaling remaining tasks');
    expect(
      lines.filter((l) => l === `livepatch: klp_try_switch_task: ufsleep:${t.pid} is sleeping on function sys_futex_wait`).length,
    ).toBeGreaterThan(25);
  });

  it('without it, the fake signal after 15 tries gets it out and the transitions complete', async () => {
    const lab = await bootScenario(q, false);
    expect(runSteps(lab, q.scenario.steps)).toBeUndefined();
    const lines = lab.logSinceStart();
    expect(lines).toContain('livepatch: signaling remaining tasks');
    expect(lines).toContain("livepatch: 'test_klp_futex': patching complete");
    expect(lines).toContain("livepatch: 'test_klp_futex': unpatching complete");
  });
});

describe('2957308343fa and 68007289: removing patch modules after a forced transition', () => {
  const refcnt = (lab: Lab, mod: string) => lab.modules.find(mod)?.refcount;

  it('2957308343fa: with the quirk, forcing one patching transition pins that patch, though it unpatched cleanly', async () => {
    const q = quirk('force-marks-all');
    for (const withQuirk of [true, false]) {
      const lab = await bootScenario(q, withQuirk);
      const rmmod = q.scenario.steps.indexOf('rmmod:test_klp_callbacks_demo');
      expect(runSteps(lab, q.scenario.steps.slice(0, rmmod))).toBeUndefined();
      // disabled, its transition completed through the consistency model: nothing of it runs
      expect(lab.lp.patches.map((p) => p.name)).not.toContain('test_klp_callbacks_demo');
      expect(refcnt(lab, 'test_klp_callbacks_demo')).toBe(withQuirk ? 1 : 0);
      const failed = runSteps(lab, q.scenario.steps.slice(rmmod));
      if (withQuirk) expect(failed).toMatch(/rmmod:test_klp_callbacks_demo' failed: .* in use/);
      else expect(failed).toBeUndefined();
    }
  });

  it('68007289: with the quirk, a patch loaded after a forced transition can never be removed', async () => {
    const q = quirk('forced-global');
    for (const withQuirk of [true, false]) {
      const lab = await bootScenario(q, withQuirk);
      const rmmod = q.scenario.steps.indexOf('rmmod:test_klp_livepatch');
      expect(runSteps(lab, q.scenario.steps.slice(0, rmmod))).toBeUndefined();
      // test_klp_livepatch was never forced: loaded after the force, patched and unpatched cleanly
      expect(lab.logSinceStart()).toContain("livepatch: 'test_klp_livepatch': unpatching complete");
      expect(refcnt(lab, 'test_klp_livepatch')).toBe(withQuirk ? 1 : 0);
      const failed = runSteps(lab, q.scenario.steps.slice(rmmod));
      if (withQuirk) expect(failed).toMatch(/rmmod:test_klp_livepatch' failed: .* in use/);
      else expect(failed).toBeUndefined();
    }
  });
});

describe('7e35e4eb: replaced patches kept until post_patch', () => {
  const q = quirk('replaced-freed-early');

  it('with the quirk, the replace patch finds no previous state in post_patch and writes through a NULL pointer', async () => {
    const lab = await bootScenario(q, true);
    const failed = runSteps(lab, q.scenario.steps);
    // pre_patch still saw test_klp_state's state and kept no space of its own; post_patch, with
    // test_klp_state gone from the list, "fixes" the loglevel into that missing space
    expect(failed).toMatch(/BUG: unable to handle page fault for address: 0000000000000000\n/);
    expect(failed).toMatch(/RIP: 0010:post_patch_callback\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_klp_state2\]/);
    const lines = lab.logSinceStart();
    expect(lines).toContain('test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated');
    expect(lines).not.toContain('test_klp_state2: fix_console_loglevel: taking over the console_loglevel change');
  });

  it('without it, post_patch takes the change over from the replaced patch', async () => {
    const lab = await bootScenario(q, false);
    expect(runSteps(lab, q.scenario.steps)).toBeUndefined();
    const lines = lab.logSinceStart();
    expect(lines).toContain('test_klp_state2: fix_console_loglevel: taking over the console_loglevel change');
  });
});

describe('842c0884: grace periods that wait for idle cpus', () => {
  const q = quirk('rcu-idle');

  /** The handler's read of current->patch_state: where a vCPU held has read func->transition already. */
  function patchStateRead(lab: Lab): bigint {
    const sym = lab.k.image.elf.findSymbol('klp_ftrace_handler');
    const off = `+ 0x${lab.k.layout.offset('task_struct', 'patch_state').toString(16)}]`;
    const insn = disassemble(lab.k.mem.bytes(sym.value, sym.size), sym.value).find((i) => i.mnemonic === 'mov' && i.opStr.endsWith(off));
    if (!insn) throw new Error('klp_ftrace_handler reads no patch_state');
    return insn.address;
  }

  /**
   * The patch of the idle path loaded; once cpu 1's idle task has switched, cpu 1 is held for an
   * emulated second before its handler reads the task's state (a hypervisor's preemption),
   * then the transition completes and the run goes on.
   */
  async function heldInHandler(withQuirk: boolean): Promise<{ lab: Lab; heldNs: number }> {
    const lab = await bootScenario(q, withQuirk);
    expect(runSteps(lab, ['run:100', 'insmod:test_klp_idle', 'run:200'])).toBeUndefined();
    expect(idleTask(lab.k, 1).patchState).toBe(1);
    let heldNs = 0;
    lab.k.machine.stallAt({ cpu: 1, address: patchStateRead(lab), nth: 1, ns: 1000e6, onStall: () => (heldNs = lab.k.machine.clockNs) });
    expect(runSteps(lab, ['wait:test_klp_idle', 'run:500'])).toBeUndefined();
    expect(heldNs).toBeGreaterThan(0);
    return { lab, heldNs };
  }

  const completedAt = (lab: Lab) =>
    lab.k.log.events.find((e) => e.type === 'printk' && e.text.endsWith("'test_klp_idle': patching complete"))!.tsNs;

  it('with the quirk, the transition completes under a handler held on an idle cpu, which then sees the reset state', async () => {
    const { lab, heldNs } = await heldInHandler(true);
    // synchronize_rcu() did not wait for the cpu RCU was not watching
    expect(completedAt(lab)).toBeLessThan(heldNs + 1000e6);
    expect(lab.logSinceStart().join('\n')).toMatch(/WARNING: CPU: 1 PID: 0 at kernel\/livepatch\.c:\d+ klp_ftrace_handler/);
  });

  it('without it, the grace period waits for the held cpu, and the handler finishes with the state it was in', async () => {
    const { lab, heldNs } = await heldInHandler(false);
    expect(completedAt(lab)).toBeGreaterThanOrEqual(heldNs + 1000e6);
    expect(lab.logSinceStart().join('\n')).not.toContain('WARNING');
  });
});

describe('8df1947c: the fake signal as TIF_SIGPENDING', () => {
  const q = quirk('sigpending');
  const waiter = (lab: Lab) => allTasks(lab.k).find((t) => t.comm === 'usigwait')!;
  const counter = (lab: Lab, name: string) => lab.k.mem.u64(lab.k.sym(name));

  /**
   * The scenario's machine, the patch loaded under the checker with a round of fake signals
   * placed where the explorer places it (the waiter entering rt_sigsuspend, pending): the seed
   * and the time are one where the waiter is in user mode, so pending, when the transition starts.
   */
  async function session(withQuirk: boolean) {
    const lab = await boot({ ...q.scenario.boot, seed: 3, quirks: withQuirk ? q.scenario.boot.quirks : [] });
    lab.startTest();
    lab.k.runFor(109);
    const checker = attachChecker(lab, { stallMs: 60_000 });
    const unplace = placeSignals(lab);
    lab.loadLpNowait('test_klp_sigsuspend');
    return { lab, checker, unplace };
  }

  it('with the quirk, rt_sigsuspend clears it, the waiter sleeps on in the patched function, and the checker sees it', async () => {
    const { lab, checker, unplace } = await session(true);
    const seen = lab.k.run({ ns: 1e9, until: () => checker.poll() !== undefined });
    unplace();
    const v = checker.poll();
    checker.detach();
    expect(seen.untilMet).toBe(true);
    expect(v?.kind).toBe('fake-signal-lost');
    const t = waiter(lab);
    expect(v?.message).toMatch(new RegExp(`^usigwait:${t.pid} was sent a fake signal in the patching transition of 'test_klp_sigsuspend'`));
    expect(v?.tasks[0].stack?.slice(0, 2).map((f) => f.replace(/\+.*/, ''))).toEqual(['__schedule', 'sys_rt_sigsuspend']);
    // the round came, and the waiter was pending when it did; now it sleeps in the old
    // function with no flag left that would get it out, and holds the transition up
    expect(lab.lp.transition.signalRounds).toBe(1);
    expect(lab.lp.transitionPatch?.name).toBe('test_klp_sigsuspend');
    expect(t.stateChar).toBe('S');
    expect(pending(t)).toBe(true);
    expect(t.testTifFlag('TIF_SIGPENDING') || t.testTifFlag('TIF_NOTIFY_SIGNAL')).toBe(false);
    expect(stackFunctions(lab, t)).toContain('sys_rt_sigsuspend');
  });

  it('without it, the waiter leaves rt_sigsuspend at once, switches on its way out, and its program sees nothing', async () => {
    const { lab, checker, unplace } = await session(false);
    const first = lab.k.log.events.length;
    lab.waitForTransition('test_klp_sigsuspend');
    unplace();
    expect(checker.finish()).toBeUndefined();
    checker.detach();
    expect(lab.lp.transition.signalRounds).toBe(1);
    const t = waiter(lab);
    const stext = lab.k.sym('_stext');
    const own = lab.k.log.events
      .slice(first)
      .filter((e) => e.type === 'klp_switch' && e.a === t.pid)
      .map((e) => lab.k.image.symbolAt(stext + BigInt(e.c))?.name);
    expect(own).toEqual(['exit_to_user_mode']);
    // every wait ended with -EINTR after its handler ran: the restarted call was invisible
    expect(counter(lab, 'sigsusp_odd')).toBe(0n);
    expect(counter(lab, 'sigsusp_waits')).toBe(counter(lab, 'sigsusp_handled'));
  });
});
