// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The C library of user programs the host spawns (a test's own program, such as the livepatch
 * selftests' test_klp-call_getpid.c, built by scripts/Makefile.user): just what such programs
 * use, over the lab's int $0x80 system calls (lab/syscall.h). No state is shared between
 * processes: each spawned process has its own copy of this library's data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>

int errno;

static long int80(long nr, long a, long b, long c)
{
	long ret;

	__asm__ __volatile__("int $0x80" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "memory");
	return ret;
}

/* A negative errno from the kernel becomes -1 and errno, as the C library's wrappers do. */
static long result(long ret)
{
	if (ret < 0 && ret > -4096) {
		errno = -ret;
		return -1;
	}
	return ret;
}

long syscall(long nr, ...)
{
	va_list ap;
	long a, b, c;

	/* the lab's system calls take at most three arguments */
	va_start(ap, nr);
	a = va_arg(ap, long);
	b = va_arg(ap, long);
	c = va_arg(ap, long);
	va_end(ap);
	return result(int80(nr, a, b, c));
}

ssize_t write(int fd, const void *buf, size_t len)
{
	return result(int80(SYS_write_fd, fd, (long)buf, len));
}

pid_t getpid(void)
{
	return int80(SYS_getpid, 0, 0, 0);
}

pid_t getppid(void)
{
	return int80(SYS_getppid, 0, 0, 0);
}

unsigned int sleep(unsigned int seconds)
{
	int80(SYS_nanosleep, seconds * 1000L, 0, 0);
	return 0;
}

void _exit(int status)
{
	for (;;)
		int80(SYS_exit, status, 0, 0);
}

void exit(int status)
{
	/* output is unbuffered: nothing to flush */
	_exit(status);
}

int kill(pid_t pid, int sig)
{
	return result(int80(SYS_kill, pid, sig, 0));
}

extern const char __restore_rt[];
/* the handlers signal() installed: the kernel's rt_sigaction does not give the old one back */
static sighandler_t handlers[_NSIG];

sighandler_t signal(int sig, sighandler_t handler)
{
	sighandler_t old;

	if (sig <= 0 || sig >= _NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	if (result(int80(SYS_rt_sigaction, sig, (long)handler, (long)__restore_rt)) < 0)
		return SIG_ERR;
	old = handlers[sig];
	handlers[sig] = handler;
	return old;
}

int sigemptyset(sigset_t *set)
{
	*set = 0;
	return 0;
}

static int sigbad(int sig)
{
	if (sig > 0 && sig < _NSIG)
		return 0;
	errno = EINVAL;
	return -1;
}

int sigaddset(sigset_t *set, int sig)
{
	if (sigbad(sig))
		return -1;
	*set |= 1UL << (sig - 1);
	return 0;
}

int sigdelset(sigset_t *set, int sig)
{
	if (sigbad(sig))
		return -1;
	*set &= ~(1UL << (sig - 1));
	return 0;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *oset)
{
	return result(int80(SYS_rt_sigprocmask, how, (long)set, (long)oset));
}

/* Always -1: EINTR once a handler has run (a signal with no handler restarts the wait). */
int sigsuspend(const sigset_t *set)
{
	return result(int80(SYS_rt_sigsuspend, (long)set, 0, 0));
}

/* --- formatted output ---------------------------------------------------------------------- */

#include "../../lib/vsnprintf.c"

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static int vdprintf(int fd, const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	return write(fd, buf, n) < 0 ? -1 : n;
}

int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vdprintf(fd, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vdprintf(STDOUT_FILENO, fmt, ap);
	va_end(ap);
	return n;
}

int puts(const char *s)
{
	return printf("%s\n", s);
}
