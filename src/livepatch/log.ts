// SPDX-License-Identifier: GPL-2.0-or-later
/* The livepatch core's kernel log lines ("livepatch: ..."), at the kernel's levels. */
import { type Kernel, hostDebugSite, hostPrDebug, type HostDebugSite } from '../kernel/index.ts';

export const KERN_ERR = 3;
export const KERN_WARNING = 4;
export const KERN_NOTICE = 5;
export const KERN_INFO = 6;
export const KERN_DEBUG = 7;

export function klpLog(k: Kernel, level: number, text: string): void {
  k.log.hostPrintk(level, `livepatch: ${text}`, k.machine.clockNs);
}

export const prErr = (k: Kernel, t: string) => klpLog(k, KERN_ERR, t);
export const prWarn = (k: Kernel, t: string) => klpLog(k, KERN_WARNING, t);
export const prNotice = (k: Kernel, t: string) => klpLog(k, KERN_NOTICE, t);

/**
 * A pr_debug site of kernel/livepatch/<file> (module "livepatch", as the kernel builds it),
 * declared at the top of the TS file that uses it; its line is that declaration's line.
 */
export const klpDebugSite = (url: string, file: string, func: string, format: string): HostDebugSite =>
  hostDebugSite(url, 'livepatch', `kernel/livepatch/${file}`, func, format);

/** pr_debug(): printed only while dynamic debug has the site switched on. */
export const prDebug = (k: Kernel, site: HostDebugSite, t: string) => hostPrDebug(k, site, 'livepatch: ', t);

/** WARN_ON: logs like the kernel's warning and returns the condition. */
export function warnOn(k: Kernel, cond: boolean, what: string): boolean {
  if (cond) k.log.hostPrintk(KERN_WARNING, `WARNING: livepatch: ${what}`, k.machine.clockNs);
  return cond;
}
