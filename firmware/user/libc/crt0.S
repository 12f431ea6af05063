/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a user program the host spawned starts (src/kernel/exec.ts, user_task_spawn()):
 * %rdi = argc, %rsi = argv, on a 16-byte aligned stack whose return address is the kernel's
 * user_thread_exit. main's value goes to exit(), as the C library's start code does.
 */
#include <lab/syscall.h>

	.text
	.globl	_start
	.type	_start, @function
_start:
	xorl	%ebp, %ebp
	andq	$-16, %rsp
	call	main
	movl	%eax, %edi
	call	exit
	ud2
	.size	_start, . - _start

	/* where a signal handler returns: rt_sigreturn restores what the signal interrupted */
	.globl	__restore_rt
	.type	__restore_rt, @function
__restore_rt:
	movl	$SYS_rt_sigreturn, %eax
	int	$0x80
	ud2
	.size	__restore_rt, . - __restore_rt

	.section .note.GNU-stack, "", @progbits
