// SPDX-License-Identifier: GPL-2.0-or-later
// The one fixture of every test that boots firmware: a lab (src/lab/lab.ts's assembly, through
// Lab.boot) or a bare kernel, booted per test, per file or for one callback, and always closed
// after -- an emulated machine left open keeps its Unicorn engines and guest RAM alive for the
// rest of the run, so no test closes its own.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { bootKernel, type BootOptions } from '../src/kernel/boot.ts';
import type { Kernel } from '../src/kernel/kernel.ts';
import { withUnwinder } from '../src/lab/lab.ts';
import { Lab } from '../src/lab/selftest.ts';

export type LabOptions = NonNullable<Parameters<typeof Lab.boot>[0]>;

export interface UseLabOptions {
  /** setup_config and start_test after the boot, as the selftests do (default); false: the bare boot. */
  start?: boolean;
}

/**
 * A lab per test: registers the cleanup and returns boot(), which boots with `defaults`
 * (overridable per call). Every lab a test boots is closed after it, also when it fails.
 */
export function useLab(defaults: LabOptions = {}, { start = true }: UseLabOptions = {}): (opts?: LabOptions) => Promise<Lab> {
  const labs: Lab[] = [];
  afterEach(() => {
    for (const lab of labs.splice(0)) lab.close();
  });
  return async (opts = {}) => {
    const lab = await Lab.boot({ ...defaults, ...opts });
    labs.push(lab);
    if (start) {
      lab.setupConfig();
      lab.startTest();
    }
    return lab;
  };
}

/** A lab for `fn` alone (a test booting several in turn), closed when `fn` returns or throws. */
export async function withLab<T>(opts: LabOptions, fn: (lab: Lab) => T | Promise<T>): Promise<T> {
  const lab = await Lab.boot(opts);
  try {
    return await fn(lab);
  } finally {
    lab.close();
  }
}

export interface KernelFixtureOptions {
  /** Give the kernel the ORC unwinder the lab gives it (default); false: a kernel nobody gave one. */
  unwinder?: boolean;
}

async function bootFixtureKernel(opts: BootOptions, { unwinder = true }: KernelFixtureOptions): Promise<Kernel> {
  const k = await bootKernel(opts);
  if (unwinder) withUnwinder(k);
  return k;
}

/** A bare kernel for `fn`, closed when `fn` returns or throws. */
export async function withKernel<T>(opts: BootOptions, fn: (k: Kernel) => T | Promise<T>, fixture: KernelFixtureOptions = {}): Promise<T> {
  const k = await bootFixtureKernel(opts, fixture);
  try {
    return await fn(k);
  } finally {
    k.close();
  }
}

/**
 * One kernel for the whole file: booted in beforeAll (then `prepare` runs on it), closed in
 * afterAll. Returns the getter the tests read it through.
 */
export function useFileKernel(
  opts: BootOptions,
  prepare: (k: Kernel) => void = () => {},
  fixture: KernelFixtureOptions = {},
): () => Kernel {
  let k: Kernel | undefined;
  beforeAll(async () => {
    k = await bootFixtureKernel(opts, fixture);
    prepare(k);
  });
  afterAll(() => {
    k?.close();
    k = undefined;
  });
  return () => {
    if (!k) throw new Error('the file kernel is used outside its tests');
    return k;
  };
}
