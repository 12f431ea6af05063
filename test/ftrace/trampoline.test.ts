// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ftrace_regs_caller on real code. It keeps every register: CPU-bound kthreads whose inner
 * functions (crunch, crunch_step) are traced by a handler that trashes every caller-saved
 * register still compute what the host recomputes, with timer preemption landing anywhere. Its
 * ORC is exact: stopped at every instruction of a traced and redirected call, the running task's
 * stack unwinds reliably through the trampoline to the traced function's caller (except at
 * the single iretq, whose frame is an interrupt-style register frame), in a site's own dynamic
 * trampoline as in ftrace_regs_caller. And it has a cost, measured in emulated instructions per
 * call of lab_probe, which ops on other functions do not change.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { crunchRounds, u64At } from '../kernel/helpers.ts';
import { orcUnwinder, stackTraceSaveTskReliable } from '../../src/orc/index.ts';
import { Ftrace, ftraceSiteTarget, unregisterFtraceFunction } from '../../src/ftrace/index.ts';
import { hits, insnsPerProbeCall, probeSeen, traceWithTestHandler } from './helpers.ts';

describe('ftrace_regs_caller', () => {
  it('keeps every register of traced functions in the middle of a computation', async () => {
    await withKernel({ cpus: 2, workload: 'cpu-bound', nrKthreads: 3, preempt: 'full', seed: 5 }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      k.mem.setU32(k.sym('ftrace_test_scramble'), 1);
      const a = traceWithTestHandler(ft, 'crunch_step');
      const b = traceWithTestHandler(ft, 'crunch');
      const h0 = hits(k);
      k.runFor(300);
      const h1 = hits(k);
      for (let c = 0; c < 2; c++) expect(h1[c] - h0[c], `cpu ${c}`).toBeGreaterThan(1000n);
      expect(k.mem.u64(k.sym('ftrace_test_bad'))).toBe(0n);
      for (let id = 0; id < 3; id++) {
        const progress = Number(u64At(k, 'crunch_progress', id));
        expect(progress).toBeGreaterThan(5);
        // crunch_last is stored just before crunch_progress moves on
        expect([crunchRounds(5n, id, progress), crunchRounds(5n, id, progress + 1)], `khog/${id}`).toContain(u64At(k, 'crunch_last', id));
      }
      unregisterFtraceFunction(ft, a);
      unregisterFtraceFunction(ft, b);
      k.runFor(50);
      for (let id = 0; id < 3; id++) {
        const progress = Number(u64At(k, 'crunch_progress', id));
        expect([crunchRounds(5n, id, progress), crunchRounds(5n, id, progress + 1)]).toContain(u64At(k, 'crunch_last', id));
      }
    });
  });

  it('unwinds reliably from inside the handler through the trampoline to the caller', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
      const probe = k.sym('lab_probe');
      const symbolizer = k.kallsyms;
      const fnOf = (a: bigint) => symbolizer.symbolize(a).replace(/\+.*/, '');
      const trace = () => {
        const t = stackTraceSaveTskReliable(k, k.cpuCurr(0));
        return { ...t, names: t.entries.map((e) => symbolizer.symbolize(e)) };
      };
      const staticTramp = k.image.symbolAt(k.sym('ftrace_regs_caller'))!;
      const iretOffset = (() => {
        for (let at = staticTramp.value; at < staticTramp.value + BigInt(staticTramp.size); at++)
          if (k.mem.u8(at) === 0x48 && k.mem.u8(at + 1n) === 0xcf) return at - staticTramp.value;
        throw new Error('no iretq in ftrace_regs_caller');
      })();

      /** Every instruction of a traced, redirected call, through the trampoline the site calls now. */
      const walk = (trampName: string, walker: string) => {
        const tramp = ftraceSiteTarget(ft, probe)!;
        k.machine.runCpuUntil(0, k.sym('ftrace_test_handler'));
        k.machine.step(0, 4);
        const inHandler = trace();
        expect(inHandler.reliable).toBe(true);
        expect(inHandler.names.slice(0, 5).map((n) => n.replace(/\+.*/, ''))).toEqual([
          'ftrace_test_handler',
          walker,
          trampName,
          'lab_probe',
          'probe_thread',
        ]);
        expect(inHandler.names[3]).toMatch(/^lab_probe\+0x5\//); // just past the site: the function's entry state

        // every instruction from the call at the site to the return into probe_thread
        const iret = tramp + iretOffset;
        k.machine.runCpuUntil(0, probe);
        const seen = new Set<string>();
        for (let i = 0; i < 600; i++) {
          const rip = k.machine.cpus[0].rip;
          const fn = fnOf(rip);
          if (fn === 'probe_thread') break;
          seen.add(fn);
          const t = trace();
          if (rip === iret) {
            // the frame it is about to load is an iret frame: honest, and not a plain call chain
            expect(t.reliable, symbolizer.symbolize(rip)).toBe(false);
            if (!t.reliable) expect(t.reason).toBe('kernel-regs');
          } else {
            expect(t.reliable, `${symbolizer.symbolize(rip)}: ${t.reliable ? '' : t.message}`).toBe(true);
            expect(
              t.names.some((n) => n.startsWith('probe_thread+')),
              symbolizer.symbolize(rip),
            ).toBe(true);
          }
          k.machine.step(0, 1);
        }
        expect([...seen]).toEqual(['lab_probe', trampName, walker, 'ftrace_test_handler', 'lab_probe_alt']);
      };

      // alone on the site: its own trampoline, a copy unwound with ftrace_regs_caller's ORC
      traceWithTestHandler(ft, 'lab_probe', { privateData: k.sym('lab_probe_alt'), ipmodify: true });
      expect(ftraceSiteTarget(ft, probe)).not.toBe(staticTramp.value);
      walk('ftrace_trampoline', 'ftrace_ops_assist_func');
      // with a second ops the site calls ftrace_regs_caller, whose list walk runs both
      traceWithTestHandler(ft, 'lab_probe');
      expect(ftraceSiteTarget(ft, probe)).toBe(staticTramp.value);
      walk('ftrace_regs_caller', 'ftrace_ops_list_func');
    });
  });

  it('costs a fixed number of emulated instructions per traced call', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
      const plain = insnsPerProbeCall(k, 200);
      const one = traceWithTestHandler(ft, 'lab_probe');
      const traced = insnsPerProbeCall(k, 200);
      // ops on other functions (never called here) cost the traced call nothing: no list walk
      const elsewhere = ['crunch_step', 'crunch', 'deep_c'].map((f) => traceWithTestHandler(ft, f));
      const tracedAmongOthers = insnsPerProbeCall(k, 200);
      for (const o of elsewhere) unregisterFtraceFunction(ft, o);
      const two = traceWithTestHandler(ft, 'lab_probe');
      const traced2 = insnsPerProbeCall(k, 200);
      unregisterFtraceFunction(ft, one);
      unregisterFtraceFunction(ft, two);
      const redirect = traceWithTestHandler(ft, 'lab_probe', { privateData: k.sym('lab_probe_alt'), ipmodify: true });
      const redirected = insnsPerProbeCall(k, 200);
      unregisterFtraceFunction(ft, redirect);
      const after = insnsPerProbeCall(k, 200);
      const report = (what: string, v: number) => `${what}: ${v.toFixed(1)} insns/iteration (+${(v - plain).toFixed(1)})`;
      console.log(
        [
          `probe_thread loop (lab_probe + bookkeeping + cond_resched): ${plain.toFixed(1)} insns/iteration untraced`,
          report('one ops (ftrace_test_handler)', traced),
          report('one ops, three more on other functions', tracedAmongOthers),
          report('two ops', traced2),
          report('one ops redirecting to lab_probe_alt', redirected),
          report('after unregistering', after),
        ].join('\n'),
      );
      expect(Math.abs(after - plain)).toBeLessThan(1);
      // its own trampoline (~55) + ftrace_ops_assist_func (~15) + handler (~30)
      expect(traced - plain).toBeGreaterThan(80);
      expect(traced - plain).toBeLessThan(200);
      expect(Math.abs(tracedAmongOthers - traced)).toBeLessThan(1);
      // two: ftrace_regs_caller's list walk over every ops, and a second handler
      expect(traced2 - traced).toBeGreaterThan(30);
      expect(traced2 - traced).toBeLessThan(100);
      expect(Math.abs(redirected - traced)).toBeLessThan(10);
    });
  });
});
