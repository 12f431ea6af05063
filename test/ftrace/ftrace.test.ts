// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Registering ftrace ops on real firmware (workload 'probe': every cpu calls lab_probe() in a
 * loop). An ops alone on lab_probe sends every vCPU through its own dynamic trampoline (a copy
 * of ftrace_regs_caller) while lab_probe still returns 1; an ops redirecting to lab_probe_alt
 * makes every cpu see 2; unregistering puts the exact NOP back and the handler stops; a site
 * stays enabled until its last ops leaves, on ftrace_regs_caller while two share it; an ops a
 * vCPU may still be reading is freed only after a grace period, and after its trampoline.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { symbolize } from '../../src/kernel/kallsyms.ts';
import { disassemble, formatInsn } from '../../src/emu/disasm.ts';
import { orcUnwinder } from '../../src/orc/index.ts';
import {
  Ftrace,
  FENTRY_NOP,
  FtraceOps,
  ftraceSetFilterIp,
  registerFtraceFunction,
  callInsn,
  ftraceAfterGracePeriod,
  ftracePendingCallbacks,
  ftraceSiteEnabled,
  ftraceSiteTarget,
  ftraceTrampoline,
  ftraceTrampolines,
  registeredFtraceOps,
  unregisterFtraceFunction,
} from '../../src/ftrace/index.ts';
import { hits, probeSeen, probeCalls, traceWithTestHandler, sum } from './helpers.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';

const PROBE = { cpus: 4, workload: 'probe' } as const;

function warmUp(k: Kernel): void {
  k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
  expect(probeSeen(k)).toEqual([1, 1, 1, 1]);
}

function siteBytes(k: Kernel, name: string): number[] {
  return [...k.mem.bytes(k.sym(name), 5)];
}

/** The guest's ftrace_ops_list, head first. */
function guestList(k: Kernel): bigint[] {
  const out: bigint[] = [];
  const next = BigInt(k.layout.offset('ftrace_ops', 'next'));
  for (let p = k.mem.u64(k.sym('ftrace_ops_list')); p !== 0n && out.length < 100; p = k.mem.u64(p + next)) out.push(p);
  return out;
}

describe('ftrace on lab_probe', () => {
  it('sends every vCPU through the trampoline, and unregistering restores the NOP exactly', async () => {
    await withKernel(PROBE, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      warmUp(k);
      const free0 = k.hostMem.bytesFree;
      const probe = k.sym('lab_probe');
      const ops = traceWithTestHandler(ft, 'lab_probe');

      expect(ops.registered).toBe(true);
      expect(guestList(k)).toEqual([ops.guest]);
      const L = k.layout;
      expect(k.mem.u64(ops.guest! + BigInt(L.offset('ftrace_ops', 'func')))).toBe(k.sym('ftrace_test_handler'));
      expect(k.mem.u64(ops.guest! + BigInt(L.offset('ftrace_ops', 'ip')))).toBe(probe);
      expect(k.mem.u64(ops.guest! + BigInt(L.offset('ftrace_ops', 'flags')))).toBe(BigInt(L.constant('FTRACE_OPS_FL_ENABLED')));
      // alone on its site: the site calls the ops' own trampoline, which loads the ops
      const tramp = ftraceTrampolines(ft).at(ftraceSiteTarget(ft, probe)!)!;
      expect(tramp.op).toBe(ops.guest);
      expect(tramp.address).not.toBe(ftraceTrampoline(ft));
      expect(siteBytes(k, 'lab_probe')).toEqual([...callInsn(probe, tramp.address)]);
      const [call] = disassemble(k.mem.bytes(probe, 5), probe, 1);
      expect(formatInsn(call)).toBe(`call 0x${tramp.address.toString(16)}`);
      expect(k.kallsyms.symbolize(tramp.address)).toBe(`ftrace_trampoline+0x0/0x${tramp.size.toString(16)} [__builtin__ftrace]`);
      expect(ftraceSiteEnabled(ft, probe)).toBe(true);

      const h0 = hits(k);
      const c0 = probeCalls(k);
      k.runFor(100);
      const h1 = hits(k);
      const c1 = probeCalls(k);
      for (let c = 0; c < 4; c++) {
        expect(h1[c] - h0[c], `cpu ${c}`).toBeGreaterThan(20n);
        // every call of lab_probe went through the handler (give or take the one in flight)
        expect(Number(h1[c] - h0[c] - (c1[c] - c0[c]))).toBeLessThanOrEqual(1);
        expect(Number(h1[c] - h0[c] - (c1[c] - c0[c]))).toBeGreaterThanOrEqual(-1);
        expect(symbolize(k.image, k.readArray('ftrace_test_parent', c, 8))).toMatch(/^probe_thread\+/);
      }
      expect(probeSeen(k)).toEqual([1, 1, 1, 1]);
      expect(k.mem.u64(k.sym('ftrace_test_bad'))).toBe(0n);

      unregisterFtraceFunction(ft, ops);
      expect(ops.registered).toBe(false);
      expect(siteBytes(k, 'lab_probe')).toEqual([...FENTRY_NOP]);
      expect(guestList(k)).toEqual([]);
      expect(ftraceSiteEnabled(ft, probe)).toBe(false);
      // the trampoline is retired, not freed: a probe thread may be preempted inside it
      expect(ftraceTrampolines(ft).count).toEqual({ live: 0, retired: 1 });
      // every probe thread passes cond_resched_tasks_rcu_qs() and a vCPU stopped mid-walk
      // finishes it: the trampoline, then the ops memory go back
      k.runFor(10);
      expect(ftraceTrampolines(ft).count).toEqual({ live: 0, retired: 0 });
      expect(ftraceTrampolines(ft).at(tramp.address)).toBeUndefined();
      expect(ftracePendingCallbacks(ft)).toBe(0);
      expect(k.hostMem.bytesFree).toBe(free0);

      const h2 = hits(k);
      const c2 = sum(probeCalls(k));
      k.runFor(100);
      expect(hits(k)).toEqual(h2);
      expect(sum(probeCalls(k)) - c2).toBeGreaterThan(100n);
      expect(probeSeen(k)).toEqual([1, 1, 1, 1]);
    });
  });

  it('redirects every cpu to another function through regs->ip, and back', async () => {
    await withKernel(PROBE, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      warmUp(k);
      const ops = traceWithTestHandler(ft, 'lab_probe', { privateData: k.sym('lab_probe_alt'), ipmodify: true });
      expect(k.mem.u64(ops.guest! + BigInt(k.layout.offset('ftrace_ops', 'private')))).toBe(k.sym('lab_probe_alt'));
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 2) });
      expect(probeSeen(k)).toEqual([2, 2, 2, 2]);
      k.runFor(50);
      expect(probeSeen(k)).toEqual([2, 2, 2, 2]);
      expect(k.mem.u64(k.sym('ftrace_test_bad'))).toBe(0n);

      unregisterFtraceFunction(ft, ops);
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
      k.runFor(50);
      expect(probeSeen(k)).toEqual([1, 1, 1, 1]);
      expect(siteBytes(k, 'lab_probe')).toEqual([...FENTRY_NOP]);
    });
  });

  it('keeps a site enabled until the last of two ops on it is gone', async () => {
    await withKernel(PROBE, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      warmUp(k);
      const probe = k.sym('lab_probe');
      const free0 = k.hostMem.bytesFree;
      const counter = traceWithTestHandler(ft, 'lab_probe');
      const first = ftraceTrampolines(ft).at(ftraceSiteTarget(ft, probe)!)!;
      expect(first.op).toBe(counter.guest);
      expect(siteBytes(k, 'lab_probe')).toEqual([...callInsn(probe, first.address)]);
      const redirect = traceWithTestHandler(ft, 'lab_probe', { privateData: k.sym('lab_probe_alt'), ipmodify: true });
      // the first ops' trampoline is retired: its call now goes to the list function
      expect(ftraceTrampolines(ft).count).toEqual({ live: 0, retired: 1 });
      const callAt = first.address + (k.mem.u64(k.sym('ftrace_regs_call')) - k.sym('ftrace_regs_caller'));
      const [retiredCall] = disassemble(k.mem.bytes(callAt, 5), callAt, 1);
      expect(formatInsn(retiredCall)).toBe(`call 0x${k.sym('ftrace_ops_list_func').toString(16)}`);
      expect(guestList(k)).toEqual([redirect.guest, counter.guest]);
      expect(registeredFtraceOps(ft)).toEqual([redirect, counter]);
      // two ops: the site walks the list through ftrace_regs_caller
      const called = siteBytes(k, 'lab_probe');
      expect(called).toEqual([...callInsn(probe, ftraceTrampoline(ft))]);
      expect(ftraceTrampolines(ft).count.live).toBe(0);

      let c0 = sum(probeCalls(k));
      let h0 = sum(hits(k));
      k.runFor(100);
      expect(probeSeen(k)).toEqual([2, 2, 2, 2]);
      // both handlers ran on every call
      expect(Number(sum(hits(k)) - h0) / Number(sum(probeCalls(k)) - c0)).toBeCloseTo(2, 1);

      unregisterFtraceFunction(ft, counter);
      // one left: the site moves to that ops' own trampoline
      const tramp = ftraceTrampolines(ft).at(ftraceSiteTarget(ft, probe)!)!;
      expect(tramp.op).toBe(redirect.guest);
      expect(siteBytes(k, 'lab_probe')).toEqual([...callInsn(probe, tramp.address)]);
      expect(ftraceSiteEnabled(ft, probe)).toBe(true);
      expect(guestList(k)).toEqual([redirect.guest]);
      c0 = sum(probeCalls(k));
      h0 = sum(hits(k));
      k.runFor(100);
      expect(probeSeen(k)).toEqual([2, 2, 2, 2]);
      expect(Number(sum(hits(k)) - h0) / Number(sum(probeCalls(k)) - c0)).toBeCloseTo(1, 1);

      unregisterFtraceFunction(ft, redirect);
      expect(siteBytes(k, 'lab_probe')).toEqual([...FENTRY_NOP]);
      expect(ftraceSiteEnabled(ft, probe)).toBe(false);
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
      expect(probeSeen(k)).toEqual([1, 1, 1, 1]);
      expect(ftracePendingCallbacks(ft)).toBe(0);
      expect(k.hostMem.bytesFree).toBe(free0);
    });
  });

  it('uses a guest ops the caller embedded in its own structure, and leaves it to the caller', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      warmUp2(k);
      const L = k.layout;
      // a caller's structure with a struct ftrace_ops inside, as livepatch's klp_ops
      const owner = k.hostMem.alloc(16 + L.sizeof('ftrace_ops'), 16, 'klp_ops');
      const free1 = k.hostMem.bytesFree;
      const ops = new FtraceOps({ func: 'ftrace_test_handler', at: owner + 16n, privateData: k.sym('lab_probe_alt'), ipmodify: true });
      ftraceSetFilterIp(ft, ops, k.sym('lab_probe'));
      registerFtraceFunction(ft, ops);
      expect(ops.guest).toBe(owner + 16n);
      expect(guestList(k)).toEqual([owner + 16n]);
      // ftrace allocated only the ops' trampoline, which loads the caller's ops
      expect(ftraceTrampolines(ft).at(ftraceSiteTarget(ft, k.sym('lab_probe'))!)!.op).toBe(owner + 16n);
      expect(k.hostMem.bytesFree).toBeLessThan(free1);
      expect(k.mem.u64(owner + 16n + BigInt(L.offset('ftrace_ops', 'flags')))).toBe(
        BigInt(L.constant('FTRACE_OPS_FL_ENABLED') | L.constant('FTRACE_OPS_FL_IPMODIFY')),
      );
      const h0 = sum(hits(k));
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 2) });
      expect(probeSeen(k)).toEqual([2, 2]);
      expect(sum(hits(k))).toBeGreaterThan(h0);
      unregisterFtraceFunction(ft, ops);
      expect(guestList(k)).toEqual([]);
      expect(k.mem.u64(owner + 16n + BigInt(L.offset('ftrace_ops', 'flags')))).toBe(BigInt(L.constant('FTRACE_OPS_FL_IPMODIFY')));
      k.runFor(10);
      expect(ftraceTrampolines(ft).count).toEqual({ live: 0, retired: 0 });
      expect(k.hostMem.bytesFree).toBe(free1); // the trampoline went back, the ops is not ftrace's to free
      ftraceAfterGracePeriod(ft, () => k.hostMem.release(owner));
      expect(k.hostMem.bytesFree).toBeGreaterThan(free1);
    });
  });

  it('frees an unlinked ops only after every list walk that could hold it has ended', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      warmUp2(k);
      const free0 = k.hostMem.bytesFree;
      const ops = traceWithTestHandler(ft, 'lab_probe');
      const g = ops.guest!;
      // cpu 1 stops inside the handler, in the middle of its walk of ftrace_ops_list
      k.machine.runCpuUntil(1, k.sym('ftrace_test_handler'));
      expect(k.readArray('ftrace_cpu_depth', 1, 8)).toBe(1n);
      unregisterFtraceFunction(ft, ops);
      const order: string[] = [];
      ftraceAfterGracePeriod(ft, () => order.push('after'));
      expect(ftracePendingCallbacks(ft)).toBe(2);
      expect(k.hostMem.bytesFree).toBeLessThan(free0);
      // still intact for cpu 1, which will read op->next when its handler returns
      expect(k.mem.u64(g + BigInt(k.layout.offset('ftrace_ops', 'func')))).toBe(k.sym('ftrace_test_handler'));

      const h1 = k.readArray('ftrace_test_hits', 1, 8);
      k.runFor(10);
      expect(k.readArray('ftrace_test_hits', 1, 8)).toBe(h1 + 1n); // the call in flight finished, no more
      expect(k.readArray('ftrace_cpu_depth', 1, 8)).toBe(0n);
      expect(ftracePendingCallbacks(ft)).toBe(0);
      expect(order).toEqual(['after']);
      expect(k.hostMem.bytesFree).toBe(free0);

      // with no walk in progress, a grace period is over at once
      ftraceAfterGracePeriod(ft, () => order.push('now'));
      expect(order).toEqual(['after', 'now']);
    });
  });
});

function warmUp2(k: Kernel): void {
  k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
  expect(probeSeen(k)).toEqual([1, 1]);
}
