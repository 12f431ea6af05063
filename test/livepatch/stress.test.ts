// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Random livepatch sessions on the default workload (4 vCPUs, kthreads asleep in patched
 * functions, user tasks, a forker): loads with and without waiting, disables, reversals,
 * forces, target modules coming and going, module removals, time passing -- in an order a
 * seeded generator picks. Whatever the order, after every step:
 *   - without a transition no task has a patch state or a pending flag, cond_resched() does
 *     not look, klp_target_state is KLP_UNDEFINED;
 *   - during one, a task is pending exactly when its state is not the target (looked at, as
 *     the host does, with tasklist_lock free);
 *   - every func_stack in guest memory holds the host's funcs, newest first, and an fentry
 *     site is a call exactly when its function has a klp_ops;
 *   - sysfs lists exactly the installed patches; an enabled patch's module holds a reference.
 * At the end, once every patch is gone, the kernel's text is byte for byte what it was at boot.
 */
import { describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/selftest.ts';
import { Prng } from '../../src/emu/prng.ts';
import { allTasks, cpuCurr } from '../../src/kernel/task.ts';
import { KLP_UNDEFINED } from '../../src/livepatch/structs.ts';
import { LivepatchError } from '../../src/livepatch/core.ts';
import { ModuleError } from '../../src/elf/module.ts';
import { SelftestError } from '../../src/lab/selftest.ts';

const PATCHES = ['test_klp_livepatch', 'test_klp_atomic_replace', 'test_klp_deep', 'test_klp_deep2', 'test_klp_callbacks_demo', 'test_klp_mod_patch'];
const TARGETS = ['test_klp_mod_target', 'test_klp_callbacks_mod'];

/** The refusals a random session runs into: -EBUSY, -EINVAL, a module in use; nothing else. */
function expected(e: unknown): boolean {
  const err = e instanceof AggregateError ? e.errors[0] : e;
  return err instanceof LivepatchError || err instanceof ModuleError || err instanceof SelftestError;
}

function checkInvariants(lab: Lab, where: string): void {
  const { k, lp } = lab;
  const tasks = allTasks(k);
  const mem = k.mem;
  if (!lp.transitionPatch) {
    for (const t of tasks) {
      expect(t.patchState, `${where}: ${t} state at rest`).toBe(KLP_UNDEFINED);
      expect(t.testTifFlag('TIF_PATCH_PENDING'), `${where}: ${t} pending at rest`).toBe(false);
    }
    expect(mem.u32(k.sym('klp_cond_resched_enabled')), `${where}: cond_resched hook`).toBe(0);
    expect(mem.s32(k.sym('klp_target_state')), `${where}: target`).toBe(KLP_UNDEFINED);
  } else if (mem.u32(k.sym('tasklist_lock')) === 0) {
    // (with tasklist_lock held a fork may be between joining the list and klp_copy_process():
    // the host never looks then, nor do we)
    const target = lp.targetState;
    for (const t of tasks) {
      // a task stopped inside klp_update_patch_state(), between its two writes, is mid-switch
      const cpu = t.currentOn();
      if (cpu >= 0 && k.image.symbolAt(k.machine.cpus[cpu].rip)?.name === 'klp_update_patch_state') continue;
      expect(t.testTifFlag('TIF_PATCH_PENDING'), `${where}: ${t} pending <=> state ${t.patchState} != ${target}`).toBe(t.patchState !== target);
    }
  }
  // func_stacks in guest memory, and the fentry sites
  const L = lp.L;
  const seen = new Set<bigint>();
  for (const p of lp.patches)
    for (const o of p.objs)
      for (const f of o.funcs) {
        if (!f.patched) continue;
        const ops = lp.patcher.findOps(f.oldFunc)!;
        expect(ops, `${where}: klp_ops for ${f.oldName}`).toBeDefined();
        if (seen.has(f.oldFunc)) continue;
        seen.add(f.oldFunc);
        const head = ops.address + L.ops.func_stack;
        const guest: bigint[] = [];
        for (let n = mem.u64(head + L.listNext); n !== head; n = mem.u64(n + L.listNext)) guest.push(n - L.func.stack_node);
        expect(guest, `${where}: func_stack of ${f.oldName}`).toEqual(ops.funcStack.map((x) => x.address));
        expect(mem.u8(f.oldFunc), `${where}: ${f.oldName} site is a call`).toBe(0xe8);
      }
  // sysfs and references
  const names = lp.patches.map((p) => p.name);
  expect(lp.sysfsTree().filter((l) => /^\/sys\/kernel\/livepatch\/[^/]+\/$/.test(l)), `${where}: sysfs`).toEqual(names.map((n) => `/sys/kernel/livepatch/${n}/`));
  for (const p of lp.patches) if (p.enabled || p === lp.transitionPatch) expect(lab.modules.find(p.name)?.refcount, `${where}: ${p.name} ref`).toBeGreaterThan(0);
}

async function session(seed: number, steps: number, preempt: 'none' | 'full' = 'none'): Promise<{ log: string[]; ops: string[] }> {
  const lab = await Lab.boot({ cpus: 4, workload: 'default', seed, preempt });
  const { k, lp } = lab;
  const rng = new Prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[rng.below(xs.length)];
  const text = Buffer.from(k.mem.bytes(k.image.textStart, Number(k.image.textEnd - k.image.textStart)));
  const ops: string[] = [];
  try {
    k.runFor(200);
    lab.startTest();
    for (let i = 0; i < steps; i++) {
      const r = rng.below(100);
      const p = pick(PATCHES);
      let op: string;
      let act: () => void;
      if (r < 30) {
        const params: Record<string, string> = p === 'test_klp_atomic_replace' ? { replace: String(rng.below(2)) } : {};
        op = `insmod ${p} ${JSON.stringify(params)}`;
        act = () => lab.loadLpNowait(p, params);
      } else if (r < 45) {
        op = `disable ${p}`;
        act = () => lp.sysfsWrite(`/sys/kernel/livepatch/${p}/enabled`, '0');
      } else if (r < 52) {
        const t = lp.transitionPatch;
        op = `reverse ${t?.name}`;
        act = () => t && lp.sysfsWrite(`/sys/kernel/livepatch/${t.name}/enabled`, t.enabled ? '0' : '1');
      } else if (r < 58) {
        op = `force ${p}`;
        act = () => lp.sysfsWrite(`/sys/kernel/livepatch/${p}/force`, '1');
      } else if (r < 70) {
        const m = pick(TARGETS);
        op = `toggle ${m}`;
        act = () => (lab.modules.isLoaded(m) ? lab.unloadMod(m) : lab.loadMod(m));
      } else if (r < 78) {
        op = `rmmod ${p}`;
        act = () => lab.unloadMod(p);
      } else {
        const ms = 1 + rng.below(1500);
        op = `run ${ms}`;
        act = () => k.runFor(ms);
      }
      try {
        act();
      } catch (e) {
        if (!expected(e)) throw e;
        op += ' (refused)';
      }
      ops.push(op);
      checkInvariants(lab, `step ${i} (${op}) after [${ops.join('; ')}]`);
    }
    // wind down: finish any transition, disable everything, remove what may go
    for (let round = 0; round < 20 && (lp.transitionPatch || lp.patches.length); round++) {
      try {
        if (lp.transitionPatch) {
          lp.sysfsWrite(`/sys/kernel/livepatch/${lp.transitionPatch.name}/force`, '1');
          lab.waitForTransition(lp.transitionPatch.name, 5000);
        } else lab.disableLp(lp.patches[lp.patches.length - 1].name);
      } catch (e) {
        if (!expected(e)) throw e;
      }
      checkInvariants(lab, `wind-down ${round}`);
    }
    expect(lp.patches).toEqual([]);
    k.runFor(100);
    // nothing patched any more: the kernel's code is what it was at boot
    expect(Buffer.from(k.mem.bytes(k.image.textStart, text.length)).equals(text)).toBe(true);
    expect(cpuCurr(k, 0)).toBeDefined();
    return { log: lab.logSinceStart(), ops };
  } catch (e) {
    if (expected(e)) throw new Error(`unexpected refusal outside a step: ${(e as Error).message}`);
    throw e;
  } finally {
    lab.close();
  }
}

describe('random livepatch sessions', () => {
  it.each([
    [1, 'none'],
    [2, 'none'],
    [3, 'full'],
    [4, 'full'],
  ] as const)('keep the invariants, seed %i, preempt=%s', async (seed, preempt) => {
    const { log, ops } = await session(seed, 60, preempt);
    // the session did things: patches completed, and some steps were refused on the way
    expect(log.some((l) => / patching complete$/.test(l))).toBe(true);
    expect(ops.filter((o) => o.startsWith('insmod') && !o.endsWith('(refused)')).length).toBeGreaterThan(2);
    expect(ops.some((o) => o.endsWith('(refused)'))).toBe(true);
  }, 120_000);
});
