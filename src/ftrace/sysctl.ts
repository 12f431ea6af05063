// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel.ftrace_enabled sysctl (the kernel's ftrace_enable_sysctl()). The value lives in the
 * guest (int ftrace_enabled); a write stores what proc_dointvec parses there, then acts when
 * the value's truth changes against the state the sites are in (Ftrace.callsEnabled, the
 * kernel's last_ftrace_enabled): to 1, every site with registered ops calls out again; to 0,
 * every such site goes back to its NOP -- unless a PERMANENT ops is registered (livepatch's,
 * which must not silently stop redirecting its functions), when the write fails with -EBUSY
 * and the value reads 1. Writing 2 stores 2 and changes nothing else, as in the kernel.
 */
import { procDointvec } from '../kernel/index.ts';
import { FtraceError } from './errors.ts';
import type { Ftrace } from './ftrace.ts';

export const FTRACE_ENABLED_KEY = 'kernel.ftrace_enabled';

/** What reading /proc/sys/kernel/ftrace_enabled gives: the guest's value and a newline. */
export function ftraceEnabledRead(ftrace: Ftrace): string {
  return `${ftrace.kernel.mem.s32(ftrace.enabledVar)}\n`;
}

/**
 * A write of `data` (what `echo 0 >` or sysctl writes) to the sysctl. A SysctlError (-EINVAL)
 * for what is not an int, stores nothing; FtraceError -EBUSY for 0 while a PERMANENT ops is
 * registered, the sites untouched.
 */
export function ftraceEnableSysctl(ftrace: Ftrace, data: string): void {
  const value = procDointvec(FTRACE_ENABLED_KEY, data);
  const m = ftrace.kernel.mem;
  const on = value !== 0;
  if (on === ftrace.callsEnabled) {
    m.setU32(ftrace.enabledVar, value >>> 0);
    return;
  }
  if (!on) {
    const permanent = ftrace.ops.find((o) => o.permanent);
    if (permanent) {
      m.setU32(ftrace.enabledVar, 1);
      throw new FtraceError(
        'EBUSY',
        `${FTRACE_ENABLED_KEY} cannot be 0: the permanent ops for ${ftrace.describe(permanent.ip)} is registered`,
      );
    }
  }
  // the sites first: a site found holding something unexpected leaves the value as it was
  ftrace.setCalls(on);
  m.setU32(ftrace.enabledVar, value >>> 0);
}
