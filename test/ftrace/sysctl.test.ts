// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kernel.ftrace_enabled on real firmware (workload 'probe': every cpu calls lab_probe() in a
 * loop, traced with the firmware's test handler): 0 puts the traced site back to its NOP and
 * the handler stops running, 1 brings the call back; ops still come and go meanwhile; a
 * PERMANENT ops is refused while it is 0, and 0 is refused while one is registered. And what a
 * write accepts, as proc_dointvec parses it.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { orcUnwinder } from '../../src/orc/index.ts';
import {
  callInsn,
  FENTRY_NOP,
  Ftrace,
  FtraceError,
  ftraceEnabledRead,
  ftraceEnableSysctl,
  ftraceSiteEnabled,
  ftraceTrampoline,
  unregisterFtraceFunction,
} from '../../src/ftrace/index.ts';
import { procDointvec, SysctlError } from '../../src/kernel/index.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { hits, probeSeen, ramSnapshot, ramUnchanged, sum, traceWithTestHandler } from './helpers.ts';

const PROBE = { cpus: 2, workload: 'probe' } as const;

function siteBytes(k: Kernel): number[] {
  return [...k.mem.bytes(k.sym('lab_probe'), 5)];
}

/** The test handler's calls over the next `ms` emulated milliseconds. */
function hitsOver(k: Kernel, ms: number): bigint {
  const h0 = sum(hits(k));
  k.runFor(ms);
  return sum(hits(k)) - h0;
}

function refusal(fn: () => void): FtraceError | SysctlError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FtraceError || e instanceof SysctlError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('kernel.ftrace_enabled', () => {
  it('0 stops the traced site calling out, 1 brings it back; ops come and go meanwhile', async () => {
    await withKernel(PROBE, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
      const probe = k.sym('lab_probe');
      expect(ftraceEnabledRead(ft)).toBe('1\n');
      const a = traceWithTestHandler(ft, 'lab_probe');
      expect(hitsOver(k, 50)).toBeGreaterThan(0n);

      ftraceEnableSysctl(ft, '0\n');
      expect(ftraceEnabledRead(ft)).toBe('0\n');
      expect(k.mem.s32(k.sym('ftrace_enabled'))).toBe(0);
      expect(siteBytes(k)).toEqual([...FENTRY_NOP]);
      expect(ftraceSiteEnabled(ft, probe)).toBe(false);
      k.runFor(5); // a vCPU stopped inside the trampoline finishes its call
      expect(hitsOver(k, 50)).toBe(0n);

      // a second ops while disabled: registered, the site left alone
      const b = traceWithTestHandler(ft, 'lab_probe');
      expect(siteBytes(k)).toEqual([...FENTRY_NOP]);
      expect(hitsOver(k, 50)).toBe(0n);

      ftraceEnableSysctl(ft, '1');
      // two ops on the site: the list walk, each handler once per call
      expect(siteBytes(k)).toEqual([...callInsn(probe, ftraceTrampoline(ft))]);
      expect(hitsOver(k, 50)).toBeGreaterThan(0n);

      ftraceEnableSysctl(ft, '0');
      unregisterFtraceFunction(ft, a);
      unregisterFtraceFunction(ft, b);
      expect(siteBytes(k)).toEqual([...FENTRY_NOP]);
      ftraceEnableSysctl(ft, '1');
      expect(siteBytes(k)).toEqual([...FENTRY_NOP]); // nothing registered: nothing to call
      k.runFor(5);
      expect(hitsOver(k, 50)).toBe(0n);
    });
  });

  it('refuses a PERMANENT ops while 0, and 0 while one is registered, changing nothing', async () => {
    await withKernel(PROBE, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.run({ ns: 500e6, until: () => probeSeen(k).every((v) => v === 1) });
      ftraceEnableSysctl(ft, '0');
      ramSnapshot(k);
      const e = refusal(() => traceWithTestHandler(ft, 'lab_probe', { permanent: true }));
      expect(e.errno).toBe('EBUSY');
      expect(e.message).toMatch(/kernel\.ftrace_enabled is 0: the permanent ops for lab_probe/);
      expect(ramUnchanged(k)).toBe(true);

      ftraceEnableSysctl(ft, '1');
      const ops = traceWithTestHandler(ft, 'lab_probe', { permanent: true });
      expect(
        k.mem.u64(ops.guest! + BigInt(k.layout.offset('ftrace_ops', 'flags'))) & BigInt(k.layout.constant('FTRACE_OPS_FL_PERMANENT')),
      ).not.toBe(0n);
      // 2 is a value like any other: stored, the sites unchanged
      ftraceEnableSysctl(ft, '2');
      expect(ftraceEnabledRead(ft)).toBe('2\n');
      const site = siteBytes(k);
      const busy = refusal(() => ftraceEnableSysctl(ft, '0'));
      expect(busy.errno).toBe('EBUSY');
      expect((busy as FtraceError).code).toBe(-16);
      // as the kernel: the refused write leaves 1, whatever was there
      expect(ftraceEnabledRead(ft)).toBe('1\n');
      expect(siteBytes(k)).toEqual(site);
      expect(hitsOver(k, 50)).toBeGreaterThan(0n);

      const bad = refusal(() => ftraceEnableSysctl(ft, 'off'));
      expect(bad).toBeInstanceOf(SysctlError);
      expect(bad.errno).toBe('EINVAL');
      expect(ftraceEnabledRead(ft)).toBe('1\n');

      unregisterFtraceFunction(ft, ops);
      ftraceEnableSysctl(ft, '0');
      expect(ftraceEnabledRead(ft)).toBe('0\n');
    });
  });
});

describe('proc_dointvec writes', () => {
  it('takes one int, in decimal, octal or hex, ended by a blank', () => {
    const ok: [string, number][] = [
      ['1', 1],
      ['0\n', 0],
      ['  \t7 ', 7],
      ['0x10', 16],
      ['010', 8],
      ['-1', -1],
      ['-0', 0],
      ['1 2\n', 1],
      ['2147483647', 2147483647],
      ['-2147483648', -2147483648],
    ];
    for (const [data, v] of ok) expect(procDointvec('kernel.x', data), JSON.stringify(data)).toBe(v);
    for (const data of ['', '\n', 'abc', '1a', '+1', '-', '-\n', '08', '0x', '2147483648', '-2147483649', '1'.repeat(21), 'on'])
      expect(() => procDointvec('kernel.x', data), JSON.stringify(data)).toThrow(SysctlError);
    expect(() => procDointvec('kernel.ftrace_enabled', 'yes')).toThrow('sysctl kernel.ftrace_enabled: "yes": not a number (-EINVAL)');
  });
});
