// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-shadow-vars.sh, "basic shadow variable API", and shadow variables seen from the host:
 * the guest's hash table, read between quanta through src/livepatch/shadow.ts, holds what the
 * module's calls made while they exist and nothing once they are freed. Then two kthreads on
 * two vCPUs race klp_shadow_get_or_alloc() over the same keys, with the host sampling where
 * they are after every round: both caught allocating the same key at once, one variable per key.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { Lab } from '../../src/lab/selftest.ts';
import { TEST_SHADOW_VARS } from '../../src/lab/selftests/test-shadow-vars.ts';
import { klpShadowForEach, klpShadowGet, klpShadowLocked, ShadowTableError, type ShadowVariable } from '../../src/livepatch/shadow.ts';
import { stackTraceSaveTskReliable } from '../../src/orc/unwind.ts';
import type { RoundHook } from '../../src/emu/machine.ts';
import { Task } from '../../src/kernel/task.ts';

const boot = useLab({}, { start: false });

/** Runs hook after every round while fn runs. */
function duringRounds<T>(l: Lab, hook: RoundHook, fn: () => T): T {
  const hooks = l.k.machine.afterRound;
  hooks.push(hook);
  try {
    return fn();
  } finally {
    hooks.splice(hooks.indexOf(hook), 1);
  }
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

describe('test-shadow-vars', () => {
  it('basic shadow variable API', async () => {
    const lab = await boot({ cpus: 4, workload: 'idle' });
    const k = lab.k;
    expect([...klpShadowForEach(k)]).toEqual([]);

    // the module allocates and frees within its init: look at the table after every round
    const sizes: number[] = [];
    let fullest: ShadowVariable[] = [];
    let lookupsChecked = 0;
    lab.startTest();
    duringRounds(
      lab,
      () => {
        if (klpShadowLocked(k)) return; // a vCPU stopped halfway through a change
        const vars = [...klpShadowForEach(k)];
        if (sizes[sizes.length - 1] !== vars.length) sizes.push(vars.length);
        // the bucket walk of klp_shadow_get() finds every variable the full walk lists
        for (const v of vars) expect(klpShadowGet(k, v.obj, v.id)?.address).toBe(v.address);
        lookupsChecked += vars.length;
        if (vars.length > fullest.length) fullest = vars;
      },
      () => lab.loadMod('test_klp_shadow_vars'),
    );
    expect([...klpShadowForEach(k)]).toEqual([]);

    // pass 1 builds up to two variables for each of three objects, passes 4 and 6 take them away:
    // the table only grows, to 6, then only shrinks, to 0
    const top = sizes.indexOf(6);
    expect(top).toBeGreaterThan(0);
    expect(sizes.slice(0, top + 1)).toEqual([...sizes.slice(0, top + 1)].sort((a, b) => a - b));
    expect(sizes.slice(top)).toEqual([...sizes.slice(top)].sort((a, b) => b - a));
    expect(sizes[sizes.length - 1]).toBe(0);
    expect(lookupsChecked).toBeGreaterThan(6);
    const khostd = [...k.forEachTask()].find((t) => t.comm === 'khostd')!;
    const onStack = (a: bigint) => a >= khostd.stack && a < khostd.stackEnd;
    const objs = [...new Set(fullest.map((v) => v.obj))];
    expect(objs).toHaveLength(3);
    for (const obj of objs) {
      const mine = fullest.filter((v) => v.obj === obj);
      expect(mine.map((v) => v.id).sort()).toEqual([0x1234n, 0x1235n]);
      // the objects are the init's locals; each variable holds a pointer to another local
      expect(onStack(obj)).toBe(true);
      for (const v of mine) {
        expect(v.size).toBe(8);
        expect(onStack(k.mem.u64(v.data))).toBe(true);
      }
    }

    lab.unloadMod('test_klp_shadow_vars');
    lab.checkResult(TEST_SHADOW_VARS[0].expected(lab));
    expect([...klpShadowForEach(k)]).toEqual([]);
  });
});

describe('shadow variables on several vCPUs', () => {
  it('two kthreads racing get_or_alloc on the same keys leave one variable per key', async () => {
    // quanta of 500 instructions rather than 5000: the window between a miss and the second
    // look under the lock is a few hundred instructions, and vCPUs interleave at quantum ends
    const lab = await boot({ cpus: 4, workload: 'idle', quantum: 500 });
    const k = lab.k;
    const M = 'test_klp_shadow_race';
    const RACE_ID = 0x5eedn;
    const sym = (name: string) => lab.modules.findSymbol(M, name);
    const addFn = k.image.elf.findSymbol('klp_shadow_add');
    /** Whether racer r is inside klp_shadow_add(): it missed its key and is allocating or settling it. */
    const adding = (r: number) => {
      // alive while it is inside the call; its task_struct, not a walk of a list that may be mid-change
      const task = new Task(k, k.mem.u64(sym('race_task') + BigInt(8 * r)));
      const st = stackTraceSaveTskReliable(k, task, 100, { kernelRegs: 'follow', checkEnd: false });
      return st.entries.some((a, i) => {
        const at = st.exact[i] ? a : a - 1n;
        return at >= addFn.value && at < addFn.value + BigInt(addFn.size);
      });
    };

    let together = 0;
    let bothAdding = 0;
    lab.startTest();
    duringRounds(
      lab,
      () => {
        if (!lab.modules.find(M)) return;
        const inside = [0, 1].map((r) => k.mem.u64(sym('race_inside') + BigInt(8 * r)));
        const key = [0, 1].map((r) => k.mem.u64(sym('race_key') + BigInt(8 * r)));
        if (!inside[0] || !inside[1] || key[0] !== key[1]) return;
        together++;
        if (adding(0) && adding(1)) bothAdding++;
      },
      () => lab.loadMod(M),
    );
    // the interleaving really happened: both racers stopped inside the call for one key, and
    // at least once both past their miss, each with its own allocation for the same key
    expect(together).toBeGreaterThan(0);
    expect(bothAdding).toBeGreaterThan(0);

    const objs = sym('race_objs');
    const nrKeys = lab.modules.find(M)!.symbolAt(objs)!.size / 8;
    expect(nrKeys).toBe(512);
    const got = (r: number, i: number) => k.mem.u64(sym('race_got') + BigInt(8 * (r * nrKeys + i)));
    const vars = [...klpShadowForEach(k)];
    expect(vars).toHaveLength(nrKeys);
    const made = [0, 0];
    for (let i = 0; i < nrKeys; i++) {
      const obj = objs + BigInt(8 * i);
      const v = klpShadowGet(k, obj, RACE_ID)!;
      expect(v).toBeDefined();
      expect(vars.filter((w) => w.obj === obj)).toEqual([v]);
      expect(v.size).toBe(8);
      // both racers were handed this one variable, and its constructor ran for one of them
      expect(got(0, i)).toBe(v.data);
      expect(got(1, i)).toBe(v.data);
      const who = Number(k.mem.u64(v.data));
      expect([1, 2]).toContain(who);
      made[who - 1]++;
    }
    expect(made).toEqual([0, 1].map((r) => Number(k.mem.u64(sym('race_constructed') + BigInt(8 * r)))));
    // contended for real: each racer won some keys
    expect(made[0]).toBeGreaterThan(0);
    expect(made[1]).toBeGreaterThan(0);

    // a damaged table is an error naming the damage, never a wrong list; reading writes nothing
    const v = vars[0];
    const hashBytes = 8 << k.layout.constant('KLP_SHADOW_HASH_BITS');
    const tableBytes = () =>
      Buffer.concat([
        k.mem.bytes(k.sym('klp_shadow_hash'), hashBytes),
        ...vars.map((w) => k.mem.bytes(w.address, k.layout.sizeof('klp_shadow'))),
      ]);
    const nextAt = v.address + BigInt(k.layout.offset('klp_shadow', 'next'));
    const objAt = v.address + BigInt(k.layout.offset('klp_shadow', 'obj'));
    const damage = (at: bigint, value: bigint, message: RegExp) => {
      const saved = k.mem.u64(at);
      k.mem.setU64(at, value);
      const before = tableBytes();
      try {
        expect(() => [...klpShadowForEach(k, 10_000)]).toThrow(ShadowTableError);
        expect(() => [...klpShadowForEach(k, 10_000)]).toThrow(message);
        expect(tableBytes().equals(before)).toBe(true);
      } finally {
        k.mem.setU64(at, saved);
      }
    };
    damage(nextAt, v.address, /longer than 10000 entries: corrupt or looping/);
    damage(nextAt, 0x10n, /link 0x10 points outside RAM/);
    damage(objAt, v.obj + 8n * BigInt(nrKeys), /its object hashes to/);
    expect([...klpShadowForEach(k)]).toEqual(vars);

    lab.unloadMod(M);
    expect([...klpShadowForEach(k)]).toEqual([]);
    // the two warnings' reports name the module (check_result sees them): the modules line
    // and the init's frame in each call trace
    const initFrames = lab.logSinceStart().filter((l) => new RegExp(`^ ${M}_init\\+0x[0-9a-f]+/0x[0-9a-f]+ \\[${M}\\]$`).test(l));
    expect(initFrames).toHaveLength(2);
    lab.checkResult([
      `% modprobe ${M}`,
      `${M}: 2 racers on cpus 1 and 2, 512 keys`,
      `${M}: every key has one variable, constructed once, the same for both racers`,
      `Modules linked in: ${M}`,
      initFrames[0],
      `${M}: klp_shadow_alloc of an existing variable: NULL, the variable unchanged`,
      `livepatch: Failed to construct shadow variable <${hex(objs)}, 5eee> (-22)`,
      `${M}: klp_shadow_get_or_alloc with a failing constructor: NULL, nothing added`,
      `Modules linked in: ${M}`,
      initFrames[1],
      `${M}: GFP_ATOMIC and GFP_KERNEL with interrupts off: one warning`,
      `% rmmod ${M}`,
      `${M}: freed 512 variables`,
    ]);
    const log = lab.logSinceStart();
    expect(log.filter((l) => l.startsWith('Duplicate shadow variable'))).toEqual([`Duplicate shadow variable <${hex(objs)}, 5eed>`]);
    expect(log.filter((l) => l.startsWith('shadow variable allocation that may sleep'))).toHaveLength(1);
  });

  it('the race needs cpus 1 and 2: on two vCPUs the module refuses to load and leaves nothing', async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    lab.startTest();
    expect(lab.loadFailingMod('test_klp_shadow_race').message).toMatch(/returned -22: module unloaded again/);
    expect([...klpShadowForEach(lab.k)]).toEqual([]);
    lab.checkResult([
      '% modprobe test_klp_shadow_race',
      'test_klp_shadow_race: needs cpus 1 to 2, the machine has 2 cpus',
      'test_klp_shadow_race: failed (-22)',
      "modprobe: ERROR: could not insert 'test_klp_shadow_race': Invalid argument",
    ]);
  });
});
