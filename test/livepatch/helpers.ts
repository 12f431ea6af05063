// SPDX-License-Identifier: GPL-2.0-or-later
// The selftests' setup for a test file: a lab booted per test (setup_config and start_test done), closed after it.
import { afterEach } from 'vitest';
import { Lab } from '../../src/lab/selftest.ts';

type BootOpts = Parameters<typeof Lab.boot>[0];

/** Registers the cleanup; returns boot(), which boots with `defaults` (overridable) and starts the test. */
export function useLab(defaults: BootOpts = {}): (opts?: BootOpts) => Promise<Lab> {
  let lab: Lab | undefined;
  afterEach(() => {
    lab?.close();
    lab = undefined;
  });
  return async (opts = {}) => {
    lab = await Lab.boot({ ...defaults, ...opts });
    lab.setupConfig();
    lab.startTest();
    return lab;
  };
}
