// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ORC unwinder of the lab: tables (objtool's .orc_unwind_ip/.orc_unwind, 6.1 and 6.4+
 * layouts), the reliable unwinder livepatch asks for, and the
 * objtool-identical dump. The ground-truth checker lives in ./groundtruth/ (tests, benchmark).
 */
export * from './format.ts';
export { OrcTable, OrcTableError, detectLayout, hasOrc, LOOKUP_BLOCK_ORDER, type SectionPlacement } from './table.ts';
export { dumpOrc, dumpOrcFile } from './dump.ts';
export {
  OrcUnwinder,
  orcUnwinder,
  imageOrcTable,
  stackTraceSaveTskReliable,
  UNWIND_REASONS,
  type StackTrace,
  type UnreliableReason,
  type UnwindOptions,
  type UnwindStart,
  type UnwindWhere,
} from './unwind.ts';
export { moduleOrc, unwindModules } from './modules.ts';
export { RELIABLE } from './unwind.ts';
export { formatTaskStack, formatTrace, taskStack, type TaskStack } from './task-stack.ts';
