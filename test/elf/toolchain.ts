// SPDX-License-Identifier: GPL-2.0-or-later
// Builds the test inputs with the real toolchain: kernel-style objects
// (-mcmodel=kernel), a relocatable ld -r object holding two `static dup`
// functions, and an executable linked at the kernel's text address with
// --emit-relocs (-q), as vmlinux is when CONFIG_RELOCATABLE is set.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEXT_BASE = 0xffffffff81000000n;

const KERNEL_CFLAGS = ['-O2', '-c', '-mcmodel=kernel', '-fno-pie', '-ffreestanding'];

const SOURCES: Record<string, string> = {
  // Two translation units with a same-named static function: the case
  // livepatch's sympos exists for. noipa keeps gcc from inlining or cloning it.
  'a.c': `
static int __attribute__((noipa)) dup(int x) { return x + 1; }
int shared_counter;
int call_a(int x) { return dup(x) * 2 + shared_counter; }
`,
  'b.c': `
static int __attribute__((noipa)) dup(int x) { return x - 1; }
int call_b(int x) { return dup(x) + 3; }
`,
  // Calls an external function (R_X86_64_PLT32, addend -4), addresses data
  // absolutely (R_X86_64_32S under -mcmodel=kernel), and stores function
  // pointers (R_X86_64_64); .eh_frame adds R_X86_64_PC32.
  'k.c': `
extern int printk(const char *fmt, ...);
int table[4] = { 1, 2, 3, 4 };
static long __attribute__((noipa)) helper(long x) { return table[x & 3] * 3; }
long klp_target(long x) { printk("x=%ld\\n", x); return helper(x) + table[x & 1]; }
long (*const fn_ptrs[])(long) = { klp_target, helper };
`,
  // Placed first in the link so its layout is known exactly: first at
  // TEXT_BASE, second at TEXT_BASE + 0x10.
  'head.S': `
	.text
	.globl first
	.type first, @function
first:	ret
	.size first, 1
	/* A same-type alias: symbolAt picks whichever comes first in .symtab. */
	.globl first_alias
	.set first_alias, first

	.p2align 4
	.globl second
	.type second, @function
second:	nop
	/* A zero-size label inside second: symbolAt matches it only exactly. */
	.type inner, @function
inner:	ret
	.size second, 2
	/*
	 * An OBJECT alias of second (.type after .set, which copies the FUNC
	 * type). Local, so it precedes second in the symbol table: symbolAt must
	 * prefer the FUNC for a reason other than symbol order.
	 */
	.set second_bytes, second
	.type second_bytes, @object
	.size second_bytes, 2

	.p2align 4
	.globl printk
	.type printk, @function
printk:	xorl %eax, %eax
	ret
	.size printk, . - printk

	.section .data.relocs, "aw"
	.type reloc_table, @object
reloc_table:
	/* The kernel's idiom for the 32-bit offset of a high symbol. */
	.long second - 0xffffffff80000000
	/*
	 * Nested in reloc_table and ending before it does. Global, so it comes
	 * after the local reloc_table in .symtab and only being innermost makes
	 * symbolAt choose it.
	 */
	.globl reloc_pc64
	.type reloc_pc64, @object
reloc_pc64:
	.quad second - .
	.size reloc_pc64, 8
	.reloc ., R_X86_64_NONE, first
	.quad first + 0x10
	.size reloc_table, . - reloc_table

	.section .note.GNU-stack, "", @progbits
`,
};

export interface Inputs {
  /** head.S, k.c: kernel-style relocatable objects. */
  head: string;
  kernel: string;
  /** ld -r of a.c and b.c with -ffunction-sections: both dups end up in one .text.dup. */
  dup: string;
  /** Everything linked at TEXT_BASE with --emit-relocs. */
  vmlinux: string;
}

function run(cwd: string, command: string, args: string[]): void {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function buildInputs(dir: string): Inputs {
  for (const [name, text] of Object.entries(SOURCES)) writeFileSync(join(dir, name), text);
  run(dir, 'gcc', [...KERNEL_CFLAGS, 'k.c', 'head.S']);
  run(dir, 'gcc', [...KERNEL_CFLAGS, '-ffunction-sections', 'a.c', 'b.c']);
  run(dir, 'ld', ['-r', 'a.o', 'b.o', '-o', 'dup.o']);
  run(dir, 'ld', ['-Ttext=0xffffffff81000000', '-e', 'first', '-q', 'head.o', 'k.o', 'dup.o', '-o', 'vmlinux']);
  return {
    head: join(dir, 'head.o'),
    kernel: join(dir, 'k.o'),
    dup: join(dir, 'dup.o'),
    vmlinux: join(dir, 'vmlinux'),
  };
}
