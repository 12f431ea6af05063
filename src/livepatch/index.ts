// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch core (kernel/livepatch/*.c): patches, the consistency model's transition,
 * shadow variables, states and sysfs.
 */
export { Livepatch, type LivepatchOptions, type ModuleInfo } from './core.ts';
export { LivepatchError } from './errors.ts';
export { KLP_PATCHED, KLP_UNDEFINED, type KlpFunc } from './structs.ts';
export { sysfsMode } from './sysfs.ts';
export { KlpTransition, type SwitchVerdict } from './transition.ts';
export {
  KLP_BLOCK_REASONS,
  KLP_EV_BLOCKED,
  KLP_EV_CALLBACK,
  KLP_EV_TASK,
  KLP_EV_TRANSITION,
  KLP_TASK_CAUSES,
  type KlpPhase,
  type KlpTaskCause,
} from './events.ts';
