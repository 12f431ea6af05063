// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The package's entry point for plain Node (`import { Lab } from 'klp-lab'`): the lab is
 * TypeScript, so this registers tsx's loader first and then loads src/index.ts. A static
 * `export * from './index.ts'` would be linked before register() ran, hence the explicit list
 * (index.ts documents each).
 */
import { register } from 'tsx/esm/api';

register();
const lab = await import(new URL('./index.ts', import.meta.url).href);

export const {
  Lab,
  FIXTURES,
  SelftestError,
  bootKernel,
  workloads,
  DEFAULT_IMAGE,
  BootError,
  Kernel,
  KernelOops,
  KernelPanic,
  Task,
  Livepatch,
  LivepatchError,
  stackTraceSaveTskReliable,
  taskStack,
  formatTaskStack,
  patchStates,
  sysfsReport,
} = lab;
