/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The register frame entry code saves, in the kernel's x86-64 pt_regs order. */
#ifndef LAB_PTRACE_H
#define LAB_PTRACE_H
#include <lab/types.h>

struct pt_regs {
	u64 r15, r14, r13, r12, bp, bx;
	u64 r11, r10, r9, r8, ax, cx, dx, si, di;
	u64 orig_ax; /* syscall number; negative when the frame is not a syscall's (~vector, -1) */
	/* pushed by the CPU */
	u64 ip, cs, flags, sp, ss;
};

static inline bool user_mode(const struct pt_regs *regs)
{
	return (regs->cs & 3) == 3;
}

/* The system call this frame returns from, or -1 when it is an interrupt's or exception's. */
static inline long syscall_get_nr(const struct pt_regs *regs)
{
	return (long)regs->orig_ax < 0 ? -1 : (long)regs->orig_ax;
}

#endif
