/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ftrace_regs_caller: the trampoline an enabled fentry site calls. The host rewrites the 5-byte
 * NOP at the start of a traced function into "call ftrace_regs_caller", so we arrive with the
 * address just past the site on top of the stack and the caller's return address above it.
 *
 * We save every register as a struct pt_regs whose ip is the traced function and whose sp is
 * the stack pointer at the function's entry, call ftrace_ops_list_func(ip, parent_ip, NULL,
 * regs) (a dynamic trampoline: ftrace_ops_assist_func(ip, parent_ip, op, regs)), restore the general registers from regs and leave through the tail of regs, which is
 * an iret frame: iretq loads ip, flags and sp (cs, ss) in one instruction. If a handler changed
 * regs->ip we land there, with the caller's return address on top of the stack as if the
 * caller had called it (livepatch's redirection); otherwise just past the site. Handlers may
 * change any general register, the flags and sp as well.
 *
 * The trampoline is a typed function with balanced stack operations up to that iretq, so
 * objtool writes exact ORC for every instruction: from inside a handler the unwinder goes
 * through this frame to the site's return address (an address in the traced function whose ORC
 * is the function's entry state) and on to the traced function's caller. The return slot is
 * never rewritten, so no instruction runs with a function start posing as a return address;
 * at the iretq itself the ORC says "iret frame at sp", which reliable unwinding reports as a
 * kernel register frame (the kernel's trampoline rewrites the return slot and returns with
 * ret; its last instructions then have no exact unwind state).
 */
#include <lab/asm.h>
#include <lab/hw.h>
#include <generated/asm-offsets.h>

/* Our frame: pt_regs at %rsp, the flags pushfq saved, the return address just past the site. */
#define FRAME_FLAGS	PTREGS_SIZE
#define FRAME_RET	(PTREGS_SIZE + 8)
/* From %rsp to the traced function's stack pointer at entry (its caller's return address). */
#define FRAME_ENTRY_SP	(PTREGS_SIZE + 16)

	.text
SYM_FUNC_START(ftrace_regs_caller)
	pushfq
	subq	$PTREGS_SIZE, %rsp
	movq	%r15, PTREGS_r15(%rsp)
	movq	%r14, PTREGS_r14(%rsp)
	movq	%r13, PTREGS_r13(%rsp)
	movq	%r12, PTREGS_r12(%rsp)
	movq	%rbp, PTREGS_bp(%rsp)
	movq	%rbx, PTREGS_bx(%rsp)
	movq	%r11, PTREGS_r11(%rsp)
	movq	%r10, PTREGS_r10(%rsp)
	movq	%r9, PTREGS_r9(%rsp)
	movq	%r8, PTREGS_r8(%rsp)
	movq	%rax, PTREGS_ax(%rsp)
	movq	%rcx, PTREGS_cx(%rsp)
	movq	%rdx, PTREGS_dx(%rsp)
	movq	%rsi, PTREGS_si(%rsp)
	movq	%rdi, PTREGS_di(%rsp)
	movq	$-1, PTREGS_orig_ax(%rsp)
	movq	FRAME_FLAGS(%rsp), %rax
	movq	%rax, PTREGS_flags(%rsp)
	movq	$__KERNEL_CS, PTREGS_cs(%rsp)
	movq	$__KERNEL_DS, PTREGS_ss(%rsp)
	leaq	FRAME_ENTRY_SP(%rsp), %rax
	movq	%rax, PTREGS_sp(%rsp)

	movq	FRAME_RET(%rsp), %rdi
	subq	$MCOUNT_INSN_SIZE, %rdi		/* ip: the traced function */
	movq	%rdi, PTREGS_ip(%rsp)
	movq	(%rax), %rsi			/* parent_ip: its caller's return address */
	/*
	 * The two patch points of a dynamic trampoline (src/ftrace/trampoline.ts copies this
	 * function and rewrites them): the op loaded into %rdx (NULL here: the list function walks
	 * them all) and the call (ftrace_ops_assist_func in a copy serving one ops).
	 */
.Lftrace_op_ptr:
	movabsq	$0, %rdx			/* op */
	movq	%rsp, %rcx			/* regs */
.Lftrace_call:
	call	ftrace_ops_list_func

	/* regs->ip still the traced function: go on past its site, else to where the handler said */
	movq	FRAME_RET(%rsp), %rax
	subq	$MCOUNT_INSN_SIZE, %rax
	cmpq	%rax, PTREGS_ip(%rsp)
	jne	1f
	addq	$MCOUNT_INSN_SIZE, PTREGS_ip(%rsp)
1:	movq	PTREGS_r15(%rsp), %r15
	movq	PTREGS_r14(%rsp), %r14
	movq	PTREGS_r13(%rsp), %r13
	movq	PTREGS_r12(%rsp), %r12
	movq	PTREGS_bp(%rsp), %rbp
	movq	PTREGS_bx(%rsp), %rbx
	movq	PTREGS_r11(%rsp), %r11
	movq	PTREGS_r10(%rsp), %r10
	movq	PTREGS_r9(%rsp), %r9
	movq	PTREGS_r8(%rsp), %r8
	movq	PTREGS_ax(%rsp), %rax
	movq	PTREGS_cx(%rsp), %rcx
	movq	PTREGS_dx(%rsp), %rdx
	movq	PTREGS_si(%rsp), %rsi
	movq	PTREGS_di(%rsp), %rdi
	/*
	 * The tail of pt_regs (ip, cs, flags, sp, ss) is an iret frame: iretq loads the new ip,
	 * the flags and the function's entry stack pointer in one instruction, so no instruction
	 * ever runs with the target in a return slot, and the unwinder reads the frame exactly.
	 */
	addq	$PTREGS_ip, %rsp
	UNWIND_HINT_IRET_REGS
	iretq
	/* not reached. objtool takes an iretq in a function for "add $40, %rsp" and walks on: the
	 * ud2 ends its walk (the ORC entry it gets for the ud2 means nothing) */
	ud2
SYM_FUNC_END(ftrace_regs_caller)

/*
 * Where the patch points are, for the host: as data, so the labels themselves stay out of the
 * symbol table (a label inside the function would name every address after it in stack traces).
 */
	.section .rodata
	.balign 8
	.globl	ftrace_regs_caller_op_ptr
ftrace_regs_caller_op_ptr:
	.quad	.Lftrace_op_ptr
	.globl	ftrace_regs_call
ftrace_regs_call:
	.quad	.Lftrace_call
