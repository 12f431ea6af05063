// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Finding the instruction that faulted. When an access faults, Unicorn 2.0.1 leaves rip at the
 * start of the translated block (it only syncs the pc at block boundaries unless a per-access
 * hook is installed, which would slow every access), while the general registers already hold
 * the values the instructions before the faulting one produced. So the faulting instruction is
 * the first one of the block whose memory operand, computed from those registers, covers the
 * fault address: what CR2 would tell the kernel.
 */
import { disassemble, type Insn } from './disasm.ts';
import type { GuestMemory } from './memory.ts';
import type { Registers } from './cpu.ts';

const REG64 = new Set(['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15']);
const SIZES: Record<string, number> = { byte: 1, word: 2, dword: 4, qword: 8, xmmword: 16 };
const ENDS_BLOCK = /^(j|call|ret|iret|syscall|sysret|int|hlt|ud2|lret)/;

/** [address, length) of the memory an instruction touches, as far as its operands say. */
export function memoryOperands(insn: Insn, regs: Registers): Array<[bigint, number]> {
  const out: Array<[bigint, number]> = [];
  const next = insn.address + BigInt(insn.size);
  // nop and lea have a memory operand but never access memory
  const m = /^(nop|lea|prefetch)/.test(insn.mnemonic)
    ? null
    : /(?:(byte|word|dword|qword|xmmword) ptr )?(?:[a-z]s:)?\[([^\]]+)\]/.exec(insn.opStr);
  if (m) {
    let ea = 0n;
    for (const term of m[2].replace(/ - /g, ' + -').split(' + ')) {
      const [a, b] = term.split('*');
      const neg = a.startsWith('-');
      const t = neg ? a.slice(1) : a;
      let v: bigint;
      if (t === 'rip') v = next;
      else if (REG64.has(t)) v = regs[t as keyof Registers];
      else if (/^(0x[0-9a-f]+|\d+)$/.test(t)) v = BigInt(t);
      else return out; // segment bases, 32-bit address registers: not something we can place
      if (b) v *= BigInt(b);
      ea += neg ? -v : v;
    }
    out.push([BigInt.asUintN(64, ea), SIZES[m[1] ?? 'qword'] ?? 8]);
  }
  // implicit stack accesses
  if (/^(push|call)/.test(insn.mnemonic)) out.push([BigInt.asUintN(64, regs.rsp - 8n), 8]);
  if (/^(pop|ret|leave)/.test(insn.mnemonic)) out.push([regs.rsp, 8]);
  return out;
}

/**
 * The address of the instruction in the block starting at blockStart that touched faultAddress,
 * or undefined if none of its operands explains the fault.
 */
export function locateFault(mem: GuestMemory, regs: Registers, blockStart: bigint, faultAddress: bigint): bigint | undefined {
  if (!mem.contains(blockStart)) return undefined;
  const len = Number(mem.end - blockStart < 512n ? mem.end - blockStart : 512n);
  for (const insn of disassemble(mem.bytes(blockStart, len), blockStart, 64)) {
    for (const [ea, size] of memoryOperands(insn, regs)) {
      if (faultAddress >= ea && faultAddress < ea + BigInt(size)) return insn.address;
    }
    if (ENDS_BLOCK.test(insn.mnemonic)) break;
  }
  return undefined;
}
