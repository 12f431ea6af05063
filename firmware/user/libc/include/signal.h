/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Signals of the lab's user programs' C library. signal() installs a handler through
 * rt_sigaction with a restorer that calls rt_sigreturn, as glibc's does; the numbers are
 * Linux's (lab/syscall.h).
 */
#ifndef _SIGNAL_H
#define _SIGNAL_H
#include <sys/types.h>
#include <lab/syscall.h>

#define SIGQUIT 3
#define _NSIG	32 /* signals 1.._NSIG-1, as the lab's kernel has them */

typedef void (*sighandler_t)(int);
/* Linux's layout: bit n - 1 for signal n */
typedef unsigned long sigset_t;

#define SIG_DFL ((sighandler_t)0)
#define SIG_IGN ((sighandler_t)1)
#define SIG_ERR ((sighandler_t)-1)

sighandler_t signal(int sig, sighandler_t handler);
int kill(pid_t pid, int sig);
int sigemptyset(sigset_t *set);
int sigaddset(sigset_t *set, int sig);
int sigdelset(sigset_t *set, int sig);
int sigprocmask(int how, const sigset_t *set, sigset_t *oset);
int sigsuspend(const sigset_t *set);

#endif
