// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A guest WARNING (WARN_ON, WARN_ON_ONCE, WARN in firmware/include/lab/printk.h), reported in
 * the kernel's shape (its __warn()): the cut line, "WARNING: CPU: n PID: p at file:line
 * function+off/size", the modules linked in, the cpu and task, the warning function's rip, the
 * call trace from its caller on, and the end-of-trace line. The guest stops in a host call
 * (HC_WARN) at the warning, so its registers and current's stack are the warning's; the
 * report is the host's because the symbols and the unwinder (handed to it) are. Then the guest goes on.
 */
import type { Vcpu, HostCallArgs } from '../emu/index.ts';
import type { Kernel } from './kernel.ts';
import { cpuCurr } from './task.ts';
import { callTrace } from './oops.ts';
import type { KernelUnwinder } from './stacktrace.ts';

const KERN_WARNING = 4;

/** HC_WARN (file, line, ip): logs the report; returns nothing to the guest. */
export function reportWarning(k: Kernel, cpu: Vcpu, a: HostCallArgs, unwinder: KernelUnwinder | undefined): void {
  const mods = k.modules;
  const sym = k.kallsyms;
  const file = k.mem.cstring(a.a0, 256);
  const line = Number(BigInt.asIntN(32, a.a1));
  const ip = a.a2;
  const t = cpuCurr(k, cpu.index);
  // the function the warning is in: the trace starts at its caller
  const fn = k.image.symbolAt(ip) ?? mods?.moduleAt(ip)?.functionAt(ip);
  const start = fn ? ('value' in fn ? fn.value : fn.address) : ip;
  const end = start + BigInt(fn?.size ?? 1);
  let inWarner = false;
  const out = [
    '------------[ cut here ]------------',
    `WARNING: CPU: ${cpu.index} PID: ${t.pid} at ${file}:${line} ${sym.symbolize(ip)}`,
    `Modules linked in:${
      mods
        ? mods
            .list()
            .map((m) => ` ${m.name}`)
            .join('')
        : ''
    }`,
    `CPU: ${cpu.index} PID: ${t.pid} Comm: ${t.comm}`,
    `RIP: 0010:${sym.symbolize(ip)}`,
    ...callTrace(unwinder, t, undefined, sym, (frame) => {
      // skip __warn's own frames and the warning function's; start at the first frame after
      const inside = frame >= start && frame < end + 1n;
      if (inside) inWarner = true;
      return inWarner && !inside;
    }),
    '---[ end trace 0000000000000000 ]---',
  ];
  for (const l of out) k.log.hostPrintk(KERN_WARNING, l, k.machine.clockNs, cpu.index);
}
