/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where every vCPU starts. The host enters _start in 64-bit mode with %rdi = the cpu number
 * and nothing else set up: load our GDT, reload the segment registers, move onto this cpu's
 * idle stack and enter C. This is the bottom of the idle task's stack, so unwinding ends here.
 */
#include <lab/asm.h>
#include <lab/hw.h>
#include <generated/asm-offsets.h>

	.text
SYM_CODE_START(_start)
	UNWIND_HINT_END_OF_STACK
	cli
	movq	%rdi, %r12
	lgdt	early_gdt_descr(%rip)
	/* %rsp = idle_stacks[cpu] + THREAD_SIZE - sizeof(struct pt_regs) */
	movq	%r12, %rax
	shlq	$THREAD_SHIFT, %rax
	leaq	idle_stacks(%rip), %rsp
	addq	%rax, %rsp
	addq	$(THREAD_SIZE - PTREGS_SIZE), %rsp
	/* a far return reloads %cs from our GDT */
	pushq	$__KERNEL_CS
	leaq	.Lon_kernel_cs(%rip), %rax
	pushq	%rax
	lretq
.Lon_kernel_cs:
	UNWIND_HINT_END_OF_STACK
	movl	$__KERNEL_DS, %eax
	movl	%eax, %ss
	movl	%eax, %ds
	movl	%eax, %es
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	movq	%r12, %rdi
	call	start_cpu
.Lhalt:
	hlt
	jmp	.Lhalt
SYM_CODE_END(_start)

	.section .rodata
	.balign 16
early_gdt_descr:
	.short	GDT_SIZE - 1
	.quad	gdt_table
