// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An oops report for a guest fault, in the kernel's shape: what went wrong, on which cpu and in
 * which task, the faulting rip symbolized, the code around it with the faulting instruction
 * marked, and the registers.
 */
import type { GuestFault } from '../emu/machine.ts';
import { disassemble, formatInsn } from '../emu/disasm.ts';
import type { Kernel } from './kernel.ts';
import { cpuCurr } from './task.ts';
import { symbolize } from './kallsyms.ts';

const hex = (v: bigint, w = 16) => v.toString(16).padStart(w, '0');

export function formatOops(k: Kernel, f: GuestFault): string {
  const r = f.registers;
  const lines: string[] = [];
  if (f.address !== undefined) lines.push(`BUG: unable to handle page fault for address: ${hex(f.address)}`);
  lines.push(`Oops: ${f.what}`);
  let task = '?';
  try {
    const t = cpuCurr(k, f.cpu);
    task = `PID: ${t.pid} Comm: ${t.comm}`;
  } catch {
    task = 'task unknown (per-cpu data unreadable)';
  }
  lines.push(`CPU: ${f.cpu} ${task} ${(r.cs & 3n) === 3n ? 'user mode' : 'kernel mode'}`);
  lines.push(`RIP: ${hex(r.cs, 4)}:${symbolize(k.image, f.rip)}`);
  lines.push(`Code: ${codeBytes(k, f.rip)}`);
  lines.push(`RSP: ${hex(r.ss, 4)}:${hex(r.rsp)} EFLAGS: ${hex(r.rflags, 8)}`);
  lines.push(`RAX: ${hex(r.rax)} RBX: ${hex(r.rbx)} RCX: ${hex(r.rcx)}`);
  lines.push(`RDX: ${hex(r.rdx)} RSI: ${hex(r.rsi)} RDI: ${hex(r.rdi)}`);
  lines.push(`RBP: ${hex(r.rbp)} R08: ${hex(r.r8)} R09: ${hex(r.r9)}`);
  lines.push(`R10: ${hex(r.r10)} R11: ${hex(r.r11)} R12: ${hex(r.r12)}`);
  lines.push(`R13: ${hex(r.r13)} R14: ${hex(r.r14)} R15: ${hex(r.r15)}`);
  const sym = k.image.symbolAt(f.rip);
  if (sym && k.mem.contains(sym.value, sym.size)) {
    lines.push(`Disassembly of ${sym.name}:`);
    for (const i of disassemble(k.mem.bytes(sym.value, sym.size), sym.value)) {
      const mark = i.address === f.rip ? '=>' : '  ';
      lines.push(`${mark} ${symbolize(k.image, i.address).split('/')[0].padEnd(28)} ${formatInsn(i)}`);
    }
  }
  return lines.join('\n');
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
