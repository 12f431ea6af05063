/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel side of the system calls: the table int $0x80 dispatches through and the entry
 * points defined outside sys.c (cf. the kernel's linux/syscalls.h). The numbers are in
 * lab/syscall.h, which user programs share.
 */
#ifndef LAB_SYSCALLS_H
#define LAB_SYSCALLS_H
#include <lab/syscall.h>

struct pt_regs;

typedef long (*syscall_fn_t)(const struct pt_regs *regs);
extern const syscall_fn_t sys_call_table[NR_syscalls];

long sys_rt_sigreturn(const struct pt_regs *regs);   /* kernel/signal.c */
long sys_rt_sigaction(const struct pt_regs *regs);   /* kernel/signal.c */
long sys_kill(const struct pt_regs *regs);	     /* kernel/signal.c */
long sys_rt_sigprocmask(const struct pt_regs *regs); /* kernel/signal.c */
long sys_rt_sigsuspend(const struct pt_regs *regs);  /* kernel/signal.c */
long __x64_sys_getpid(const struct pt_regs *regs);   /* kernel/sys.c */
long sys_work(const struct pt_regs *regs);	     /* workloads/kthreads.c */

#endif
