/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The user side of the system call ABI: int $0x80, rax = nr, rdi/rsi/rdx = args. */
#ifndef USER_ULIB_H
#define USER_ULIB_H
#include <lab/types.h>
#include <lab/syscall.h>

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ __volatile__("int $0x80" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "memory");
	return ret;
}

static inline long sys_getpid(void)
{
	return syscall3(SYS_getpid, 0, 0, 0);
}
static inline long sys_yield(void)
{
	return syscall3(SYS_sched_yield, 0, 0, 0);
}
static inline long sys_sleep_ms(long ms)
{
	return syscall3(SYS_nanosleep, ms, 0, 0);
}
static inline long sys_clone(void *entry, long arg, const char *name)
{
	return syscall3(SYS_clone, (long)entry, arg, (long)name);
}
static inline long sys_kill(long pid, long sig)
{
	return syscall3(SYS_kill, pid, sig, 0);
}
static inline long sys_work(long n)
{
	return syscall3(SYS_work, n, 0, 0);
}
static inline long sys_futex_wait(volatile u32 *a, u32 v)
{
	return syscall3(SYS_futex_wait, (long)a, v, 0);
}
static inline long sys_futex_wake(volatile u32 *a)
{
	return syscall3(SYS_futex_wake, (long)a, 0, 0);
}
static inline long sys_sched_setaffinity(long cpu)
{
	return syscall3(SYS_sched_setaffinity, cpu, 0, 0);
}
/* sigsets as Linux's: bit n - 1 for signal n */
static inline u64 sigbit(int sig)
{
	return 1ULL << (sig - 1);
}
static inline long sys_sigprocmask(int how, const u64 *set, u64 *oset)
{
	return syscall3(SYS_rt_sigprocmask, how, (long)set, (long)oset);
}
static inline long sys_sigsuspend(const u64 *set)
{
	return syscall3(SYS_rt_sigsuspend, (long)set, 0, 0);
}
long sys_write_str(const char *s);
long sys_sigaction(int sig, void (*handler)(int));

#endif
