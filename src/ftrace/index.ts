// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ftrace for livepatch, host side: the fentry sites (sites.ts), the checked code writes that
 * turn them on and off (poke.ts), the per-ops dynamic trampolines (trampoline.ts), and ops registration with its grace periods (ftrace.ts), and the
 * kernel.ftrace_enabled sysctl (sysctl.ts). The
 * guest half is firmware/kernel/ftrace.c and firmware/arch/ftrace_64.S.
 */
export { FtraceError, FtracePokeError, type FtraceErrno } from './errors.ts';
export {
  describeSite,
  FtraceSites,
  imageFtraceSites,
  mcountRelocationSites,
  mcountTableSites,
  moduleFtraceSites,
  MCOUNT_INSN_SIZE,
  VMLINUX,
  type FtraceSite,
  type FunctionSymbol,
} from './sites.ts';
export {
  callInsn,
  FENTRY_NOP,
  ftraceCheckCall,
  ftraceCheckNop,
  ftraceMakeCall,
  ftraceMakeNop,
  ftraceModifyCall,
  type FtraceText,
  siteAt,
} from './poke.ts';
export {
  Ftrace,
  FtraceOps,
  ftraceAfterGracePeriod,
  ftraceLocation,
  ftraceModuleInit,
  ftracePendingCallbacks,
  ftraceReleaseMod,
  ftraceSetFilterIp,
  ftraceSiteEnabled,
  ftraceSiteTarget,
  ftraceTrampolines,
  ftraceTrampoline,
  registeredFtraceOps,
  registerFtraceFunction,
  unregisterFtraceFunction,
  type FtraceOpsOptions,
} from './ftrace.ts';
export { FTRACE_ENABLED_KEY, ftraceEnabledRead, ftraceEnableSysctl } from './sysctl.ts';
export { Trampoline, Trampolines, TRAMPOLINE_MODULE, TRAMPOLINE_SYMBOL } from './trampoline.ts';
