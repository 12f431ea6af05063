/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Assembler helpers: symbol annotations and the unwind hints objtool turns into ORC for code
 * it cannot follow by itself (entry code, stack switches). A hint record is what objtool 6.1
 * reads from .discard.unwind_hints: ip (PC-relative), sp_offset, sp_reg, type, end.
 */
#ifndef LAB_ASM_H
#define LAB_ASM_H
#ifdef __ASSEMBLER__

#define ORC_REG_UNDEFINED	0
#define ORC_REG_SP		5
#define UNWIND_HINT_TYPE_CALL	0
#define UNWIND_HINT_TYPE_REGS	1
#define UNWIND_HINT_TYPE_REGS_PARTIAL 2

.macro UNWIND_HINT sp_reg:req sp_offset=0 type:req end=0
.Lhint_ip_\@:
	.pushsection .discard.unwind_hints
	.long .Lhint_ip_\@ - .
	.short \sp_offset
	.byte \sp_reg
	.byte \type
	.byte \end
	.balign 4
	.popsection
.endm

/* The bottom of a stack: unwinding ends here. */
.macro UNWIND_HINT_END_OF_STACK
	UNWIND_HINT sp_reg=ORC_REG_UNDEFINED type=UNWIND_HINT_TYPE_CALL end=1
.endm
/* A full pt_regs frame at sp (+ offset). */
.macro UNWIND_HINT_REGS offset=0
	UNWIND_HINT sp_reg=ORC_REG_SP sp_offset=\offset type=UNWIND_HINT_TYPE_REGS
.endm
/* Only the CPU's interrupt frame (ip, cs, flags, sp, ss) at sp (+ offset). */
.macro UNWIND_HINT_IRET_REGS offset=0
	UNWIND_HINT sp_reg=ORC_REG_SP sp_offset=\offset type=UNWIND_HINT_TYPE_REGS_PARTIAL
.endm

#define SYM_CODE_START(name) .globl name; .type name, @notype; name:
#define SYM_CODE_END(name) .size name, . - name
#define SYM_FUNC_START(name) .globl name; .type name, @function; name:
#define SYM_FUNC_END(name) .size name, . - name

#endif
#endif
