/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interrupt and system call entry. The host delivers an interrupt the way the CPU does: on the
 * stack of the interrupted kernel code, or on TSS.sp0 when it comes from user mode, it pushes
 * ss, rsp, rflags, cs, rip, clears IF and jumps to the IDT gate. Entry code completes struct
 * pt_regs, calls C and leaves through the common return path: exit_to_user_mode() (signals,
 * rescheduling, and later the livepatch state) or irqentry_exit_to_kernel() (preemption).
 */
#include <lab/asm.h>
#include <lab/hw.h>
#include <generated/asm-offsets.h>

.macro PUSH_REGS
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	%rax
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
.endm

.macro POP_REGS
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rax
	popq	%rcx
	popq	%rdx
	popq	%rsi
	popq	%rdi
.endm

	.text
/*
 * One 16-byte stub per vector: it records ~vector in the orig_ax slot and joins the common
 * path. The IDT points at irq_entries_start + 16 * vector. The complement keeps orig_ax negative,
 * so the signal code never takes an interrupt's frame for a system call's to restart.
 */
	.balign 16
SYM_CODE_START(irq_entries_start)
	vector = 0
	.rept NR_VECTORS
	UNWIND_HINT_IRET_REGS
	pushq	$~vector
	jmp	asm_common_interrupt
	.balign 16, 0xcc
	vector = vector + 1
	.endr
SYM_CODE_END(irq_entries_start)

SYM_CODE_START(asm_common_interrupt)
	UNWIND_HINT_IRET_REGS offset=8
	PUSH_REGS
	UNWIND_HINT_REGS
	cld
	movq	%rsp, %rdi
	call	do_IRQ
	jmp	common_return
SYM_CODE_END(asm_common_interrupt)

/* int $0x80: the system call gate, the only one user mode may use. */
	.balign 16
SYM_CODE_START(entry_INT80)
	UNWIND_HINT_IRET_REGS
	pushq	%rax			/* orig_ax: the system call number */
	PUSH_REGS
	UNWIND_HINT_REGS
	cld
	movq	%rsp, %rdi
	call	do_int80_syscall
	jmp	common_return
SYM_CODE_END(entry_INT80)

SYM_CODE_START(common_return)
	UNWIND_HINT_REGS
	movq	%rsp, %rdi
	testb	$3, PTREGS_cs(%rsp)
	jz	.Lreturn_to_kernel
	call	exit_to_user_mode
	jmp	restore_regs_and_iret
.Lreturn_to_kernel:
	call	irqentry_exit_to_kernel
	jmp	restore_regs_and_iret
SYM_CODE_END(common_return)

SYM_CODE_START(restore_regs_and_iret)
	UNWIND_HINT_REGS
	POP_REGS
	UNWIND_HINT_IRET_REGS offset=8
	addq	$8, %rsp		/* orig_ax */
	iretq
SYM_CODE_END(restore_regs_and_iret)

/*
 * A new task's first return from __switch_to lands here with %rax = the previous task.
 * Kernel threads have their function in %rbx and its argument in %r12; if the function returns
 * (kernel_init after it set up user registers), the task leaves for user mode like a task
 * returning from fork, whose %rbx is 0.
 */
SYM_CODE_START(ret_from_fork)
	UNWIND_HINT_END_OF_STACK
	movq	%rax, %rdi
	call	schedule_tail
	testq	%rbx, %rbx
	jnz	.Lkernel_thread
.Lto_user:
	UNWIND_HINT_REGS
	movq	%rsp, %rdi
	call	syscall_exit_to_user_mode
	jmp	restore_regs_and_iret
.Lkernel_thread:
	UNWIND_HINT_END_OF_STACK
	movq	%r12, %rdi
	call	*%rbx
	jmp	.Lto_user
SYM_CODE_END(ret_from_fork)
