/* SPDX-License-Identifier: GPL-2.0-or-later */
/* System call numbers (int $0x80: rax = nr, rdi, rsi, rdx = args, rax = result). */
#ifndef LAB_SYSCALL_H
#define LAB_SYSCALL_H

#define SYS_write	      1 /* (buf, len): to the kernel log */
#define SYS_getpid	      2
#define SYS_sched_yield	      3
#define SYS_nanosleep	      4 /* (msecs) */
#define SYS_clone	      5 /* (entry, arg, name): a new user task; returns its pid */
#define SYS_exit	      6 /* (code) */
#define SYS_kill	      7 /* (pid, sig) */
#define SYS_rt_sigaction      8 /* (sig, handler, restorer) */
#define SYS_rt_sigreturn      9
#define SYS_work	      10 /* (n): n rounds of in-kernel work through a call chain */
#define SYS_futex_wait	      11 /* (uaddr, val): sleep while *uaddr == val */
#define SYS_futex_wake	      12 /* (uaddr, n) */
#define SYS_getppid	      13
#define SYS_sched_setaffinity 14 /* (cpu): pin the calling task to cpu; -1 unpins */
#define SYS_write_fd	      15 /* (fd, buf, len): stdout/stderr of a task the host spawned */
#define SYS_rt_sigprocmask    16 /* (how, set, oset): sigsets as Linux's, no sigsetsize */
#define SYS_rt_sigsuspend     17 /* (set): wait for a signal with set blocked */
#define NR_syscalls	      18

/* rt_sigprocmask's how */
#define SIG_BLOCK   0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2

#define SIGHUP	    1
#define SIGINT	    2
#define SIGKILL	    9
#define SIGUSR1	    10
#define SIGUSR2	    12
#define SIGTERM	    15
#define SIGCHLD	    17

#include <lab/errno.h>

/*
 * A system call interrupted by a signal returns one of these to ask the way back to user mode
 * to restart it (arch_do_signal_or_restart()); user mode never sees them.
 */
#define ERESTARTSYS    512 /* restart unless a handler runs; then -EINTR */
#define ERESTARTNOINTR 513 /* always restart */
#define ERESTARTNOHAND 514 /* restart only if no handler runs; then -EINTR */

#endif
