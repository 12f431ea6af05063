// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An oops report for a guest fault, in the kernel's shape: what went wrong, on which cpu and in
 * which task, the faulting rip symbolized, the code around it with the faulting instruction
 * marked, the registers, the loaded modules, the call trace from the faulting registers (by
 * the unwinder the report is handed: the kernel's is ORC, wired in by the lab's assembly), and the faulting function disassembled. Module code is named
 * "func+0x../0x.. [mod]".
 */
import { type GuestFault, disassemble, formatInsn } from '../emu/index.ts';
import type { Kernel } from './kernel.ts';
import { cpuCurr, type Task } from './task.ts';
import type { Symbolizer } from './kallsyms.ts';
import type { KernelUnwinder } from './stacktrace.ts';

const hex = (v: bigint, w = 16) => v.toString(16).padStart(w, '0');

export function formatOops(k: Kernel, f: GuestFault, unwinder: KernelUnwinder | undefined): string {
  const r = f.registers;
  const mods = k.modules;
  const sym: Symbolizer = k.kallsyms;
  const lines: string[] = [];
  if (f.address !== undefined) lines.push(`BUG: unable to handle page fault for address: ${hex(f.address)}`);
  lines.push(`Oops: ${f.what}`);
  let task = '?';
  let current: Task | undefined;
  try {
    current = cpuCurr(k, f.cpu);
    task = `PID: ${current.pid} Comm: ${current.comm}`;
  } catch {
    task = 'task unknown (per-cpu data unreadable)';
  }
  lines.push(`CPU: ${f.cpu} ${task} ${(r.cs & 3n) === 3n ? 'user mode' : 'kernel mode'}`);
  lines.push(`RIP: ${hex(r.cs, 4)}:${sym.symbolize(f.rip)}`);
  lines.push(`Code: ${codeBytes(k, f.rip)}`);
  lines.push(`RSP: ${hex(r.ss, 4)}:${hex(r.rsp)} EFLAGS: ${hex(r.rflags, 8)}`);
  lines.push(`RAX: ${hex(r.rax)} RBX: ${hex(r.rbx)} RCX: ${hex(r.rcx)}`);
  lines.push(`RDX: ${hex(r.rdx)} RSI: ${hex(r.rsi)} RDI: ${hex(r.rdi)}`);
  lines.push(`RBP: ${hex(r.rbp)} R08: ${hex(r.r8)} R09: ${hex(r.r9)}`);
  lines.push(`R10: ${hex(r.r10)} R11: ${hex(r.r11)} R12: ${hex(r.r12)}`);
  lines.push(`R13: ${hex(r.r13)} R14: ${hex(r.r14)} R15: ${hex(r.r15)}`);
  if (mods)
    lines.push(
      `Modules linked in: ${mods
        .list()
        .map((m) => m.name)
        .join(' ')}`,
    );
  if (current && (r.cs & 3n) !== 3n) lines.push(...callTrace(unwinder, current, f.rip, sym));
  const fn = k.image.symbolAt(f.rip) ?? mods?.moduleAt(f.rip)?.functionAt(f.rip);
  const start = fn ? ('value' in fn ? fn.value : fn.address) : undefined;
  if (fn && start !== undefined && k.mem.contains(start, Number(fn.size))) {
    lines.push(`Disassembly of ${fn.name}:`);
    for (const i of disassemble(k.mem.bytes(start, Number(fn.size)), start)) {
      const mark = i.address === f.rip ? '=>' : '  ';
      lines.push(`${mark} ${sym.symbolize(i.address).split('/')[0].padEnd(28)} ${formatInsn(i)}`);
    }
  }
  return lines.join('\n');
}

/**
 * "Call Trace:": the faulting task unwound from the stopped vCPU's registers. The engine
 * leaves its rip at the start of the faulting block, so the first line shows the faulting
 * instruction found for the report instead. With `from`, the frames before the first one
 * `from` accepts are left out (a warning's report starts at its caller).
 */
export function callTrace(
  unwinder: KernelUnwinder | undefined,
  t: Task,
  rip: bigint | undefined,
  sym: Symbolizer,
  from?: (frame: bigint) => boolean,
): string[] {
  if (!unwinder) return ['Call Trace: unavailable (no unwinder)'];
  try {
    const trace = unwinder.trace(t, 64, { kernelRegs: 'follow', checkEnd: false });
    const out = ['Call Trace:'];
    const first = from ? Math.max(0, trace.entries.findIndex(from)) : 0;
    // an exact entry is an interrupted ip, the others return addresses (%pS vs %pB)
    trace.entries.forEach((e, i) => {
      if (i < first) return;
      out.push(` ${i === 0 && rip !== undefined ? sym.symbolize(rip) : trace.exact[i] ? sym.symbolize(e) : sym.symbolizeReturn(e)}`);
    });
    if (!trace.reliable) out.push(` (unwind stopped: ${trace.message})`);
    return out;
  } catch (e) {
    return [`Call Trace: unavailable (${(e as Error).message})`];
  }
}

/** The kernel's "Code:" line: 42 bytes before rip, rip's byte in <>, 21 after. */
function codeBytes(k: Kernel, rip: bigint): string {
  const out: string[] = [];
  for (let a = rip - 42n; a < rip + 22n; a++) {
    if (!k.mem.contains(a)) continue;
    const b = k.mem.u8(a).toString(16).padStart(2, '0');
    out.push(a === rip ? `<${b}>` : b);
  }
  return out.join(' ');
}
