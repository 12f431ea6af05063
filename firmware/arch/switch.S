/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * __switch_to_asm(prev, next): save prev's callee-saved registers on its stack, park its stack
 * pointer in prev->thread.sp, take next's, restore its registers and finish in C. A task that
 * never ran starts from the frame copy_process() built, whose return address is ret_from_fork.
 * The frame it leaves behind is struct inactive_task_frame, which a stack unwinder starts from.
 */
#include <lab/asm.h>
#include <generated/asm-offsets.h>

	.text
SYM_FUNC_START(__switch_to_asm)
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15

	movq	%rsp, TASK_threadsp(%rdi)
	movq	TASK_threadsp(%rsi), %rsp

	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	jmp	__switch_to
SYM_FUNC_END(__switch_to_asm)
