// SPDX-License-Identifier: GPL-2.0-or-later
// The shared fixture closes what it booted: every lab a test booted, after that test; a
// callback's kernel, also when the callback throws; the file's kernel, only after the file.
import { describe, expect, it } from 'vitest';
import type { Kernel } from '../src/kernel/kernel.ts';
import type { Lab } from '../src/lab/selftest.ts';
import { useFileKernel, useLab, withKernel } from './helpers.ts';

const closed = (k: Kernel): boolean => k.machine.cpus.every((c) => c.uc.closed);

describe('useLab', () => {
  const boot = useLab({ cpus: 1, workload: 'idle' });
  const labs: Lab[] = [];

  it('boots with the defaults, overridable per call', async () => {
    labs.push(await boot(), await boot({ cpus: 2 }));
    expect(labs.map((l) => l.k.nrCpus)).toEqual([1, 2]);
    expect(labs.map((l) => closed(l.k))).toEqual([false, false]);
  });

  it('closed every lab of the test before, not only the last', () => {
    expect(labs.map((l) => closed(l.k))).toEqual([true, true]);
  });
});

describe('withKernel', () => {
  it('closes the kernel when the callback throws', async () => {
    let k: Kernel | undefined;
    const fail = (booted: Kernel): never => {
      k = booted;
      throw new Error('callback failed');
    };
    await expect(withKernel({ cpus: 1, workload: 'idle' }, fail)).rejects.toThrow('callback failed');
    expect(k && closed(k)).toBe(true);
  });
});

describe('useFileKernel', () => {
  let prepared: Kernel | undefined;
  const kernel = useFileKernel({ cpus: 1, workload: 'idle' }, (k) => {
    prepared = k;
  });

  it('hands the tests the kernel it prepared, open', () => {
    expect(kernel()).toBe(prepared);
    expect(closed(kernel())).toBe(false);
  });

  it('keeps it open for the next test', () => {
    expect(kernel()).toBe(prepared);
    expect(closed(kernel())).toBe(false);
  });
});
