/* SPDX-License-Identifier: GPL-2.0-or-later */
/* User-mode trampolines: where a task's entry function returns, and the signal restorer. */
#include <lab/asm.h>
#include <lab/syscall.h>

	.text
SYM_FUNC_START(user_thread_exit)
	movq	%rax, %rdi
	movl	$SYS_exit, %eax
	int	$0x80
	ud2
SYM_FUNC_END(user_thread_exit)

SYM_FUNC_START(user_sigreturn)
	movl	$SYS_rt_sigreturn, %eax
	int	$0x80
	ud2
SYM_FUNC_END(user_sigreturn)
