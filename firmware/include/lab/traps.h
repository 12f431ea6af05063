/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the assembly enters C (arch/head.S, arch/entry.S), and the descriptor tables that
 * entry relies on (cf. the kernel's asm/traps.h and linux/entry-common.h). Declared here so
 * that the C definitions are checked against one prototype.
 */
#ifndef LAB_TRAPS_H
#define LAB_TRAPS_H

struct pt_regs;

void trap_init(void);
void cpu_init_tables(int cpu);

/* head.S: every vCPU's first C code */
void start_cpu(int cpu);

/* entry.S: interrupts, int $0x80, and the ways back out of the kernel */
void do_IRQ(struct pt_regs *regs);
void do_int80_syscall(struct pt_regs *regs);
void exit_to_user_mode(struct pt_regs *regs);
void syscall_exit_to_user_mode(struct pt_regs *regs);
void irqentry_exit_to_kernel(struct pt_regs *regs);

#endif
