// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * User-mode programs, run at CPL 3 on their own stacks: init, which starts the others, tasks
 * hammering system calls, a futex ping-pong pair, a signal sender and catcher, a forker, and a
 * task that waits for its signals in sigsuspend. They only reach the kernel through int $0x80.
 */
#include "ulib.h"
#include <lab/boot.h>

extern const char user_sigreturn[];
long getpid_loop(long id);
long futex_sleeper(long arg);
long futex_waker(long arg);

long sys_write_str(const char *s)
{
	long n = 0;

	while (s[n])
		n++;
	return syscall3(SYS_write, (long)s, n, 0);
}

long sys_sigaction(int sig, void (*handler)(int))
{
	return syscall3(SYS_rt_sigaction, sig, (long)handler, (long)user_sigreturn);
}

static u64 user_compute(u64 x, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		x ^= x << 7;
		x ^= x >> 9;
	}
	return x;
}

volatile u64 user_sink;

static long hammer(long id)
{
	u64 x = id + 1;
	unsigned long round;

	for (round = 1;; round++) {
		int i;

		for (i = 0; i < 8; i++) {
			x += sys_getpid();
			x = user_compute(x, 40);
		}
		if (round % 16 == 0)
			x += sys_work(24);
		if (round % 64 == 0)
			sys_sleep_ms(5 + id);
		user_sink = x;
	}
	return 0;
}

static volatile u32 pingpong_turn;
static volatile u64 pingpong_rounds;

static long ping(long arg)
{
	for (;;) {
		while (pingpong_turn != 0)
			sys_futex_wait(&pingpong_turn, 1);
		pingpong_rounds++;
		pingpong_turn = 1;
		sys_futex_wake(&pingpong_turn);
		user_sink = user_compute(pingpong_rounds, 30);
	}
	return 0;
}

static long pong(long arg)
{
	for (;;) {
		while (pingpong_turn != 1)
			sys_futex_wait(&pingpong_turn, 0);
		pingpong_turn = 0;
		sys_futex_wake(&pingpong_turn);
		user_sink = user_compute(pingpong_rounds, 30);
	}
	return 0;
}

volatile u64 signals_caught;

static void on_usr1(int sig)
{
	signals_caught++;
	if (signals_caught % 8 == 1)
		sys_write_str("caught SIGUSR1");
}

static long signaler(long catcher_pid);

/* The catcher starts its signaler once its handler is in place, so no SIGUSR1 finds it without. */
static long catcher(long arg)
{
	u64 x = 7;

	sys_sigaction(SIGUSR1, on_usr1);
	sys_clone(signaler, sys_getpid(), "usignal");
	for (;;) {
		x = user_compute(x + sys_getpid(), 100);
		sys_sleep_ms(3);
		user_sink = x;
	}
	return 0;
}

static long signaler(long catcher_pid)
{
	for (;;) {
		sys_sleep_ms(20);
		sys_kill(catcher_pid, SIGUSR1);
	}
	return 0;
}

static long child(long n)
{
	u64 x = n;
	int i;

	for (i = 0; i < 4; i++)
		x += sys_getpid();
	user_sink = user_compute(x, 50);
	return n & 0x7f;
}

static long forker(long arg)
{
	long n;

	for (n = 0;; n++) {
		sys_clone(child, n, "uchild");
		sys_sleep_ms(8);
	}
	return 0;
}

/*
 * A task waiting for a signal the classic race-free way: SIGUSR1 blocked, then waited for in
 * sigsuspend() with nothing blocked (one sent early stays queued until sigsuspend unblocks
 * it), a few milliseconds of work between two waits; and a task that sends it SIGUSR1 every
 * tick. Each sigsuspend() ends with -EINTR after the handler ran: sigsusp_odd counts any other
 * end, and more waits than handler runs would be a wakeup nobody sent -- what the program
 * would notice.
 */
volatile u64 sigsusp_waits, sigsusp_handled, sigsusp_odd;

static void on_sigsusp(int sig)
{
	sigsusp_handled++;
}

static long sigsusp_waiter(long arg)
{
	const u64 usr1 = sigbit(SIGUSR1), none = 0;
	u64 x = 1;

	sys_sigaction(SIGUSR1, on_sigsusp);
	sys_sigprocmask(SIG_BLOCK, &usr1, 0);
	for (;;) {
		x = user_compute(x, 600);
		user_sink = x;
		if (sys_sigsuspend(&none) != -EINTR)
			sigsusp_odd++;
		sigsusp_waits++;
	}
	return 0;
}

static long sigsusp_kicker(long waiter)
{
	for (;;) {
		sys_sleep_ms(1);
		sys_kill(waiter, SIGUSR1);
	}
	return 0;
}

long user_init(long workload, long nr_user, long seed);
long user_init(long workload, long nr_user, long seed)
{
	long i;

	switch (workload) {
	case WORKLOAD_DEFAULT:
		for (i = 0; i < (nr_user ? nr_user : 2); i++)
			sys_clone(hammer, i, "uhammer");
		sys_clone(ping, 0, "uping");
		sys_clone(pong, 0, "upong");
		sys_clone(catcher, 0, "ucatch");
		sys_clone(forker, 0, "ufork");
		break;
	case WORKLOAD_SYSCALL:
		for (i = 0; i < (nr_user ? nr_user : 4); i++)
			sys_clone(hammer, i, "uhammer");
		break;
	case WORKLOAD_FORK:
		for (i = 0; i < (nr_user ? nr_user : 2); i++)
			sys_clone(forker, i, "ufork");
		break;
	case WORKLOAD_GETPID:
		for (i = 0; i < (nr_user ? nr_user : 3); i++)
			sys_clone(getpid_loop, i, "ugetpid");
		break;
	case WORKLOAD_FUTEX_SLEEP:
		sys_clone(futex_sleeper, 0, "ufsleep");
		sys_clone(futex_waker, 0, "ufwake");
		break;
	case WORKLOAD_SIGSUSPEND:
		sys_clone(sigsusp_kicker, sys_clone(sigsusp_waiter, 0, "usigwait"), "usigkick");
		break;
	}
	for (;;)
		sys_sleep_ms(100);
	return 0;
}
