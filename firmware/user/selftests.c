// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * User programs of the livepatch syscall selftests (test/livepatch/syscall.test.ts).
 *
 * getpid_loop: the selftests' test_klp-call_getpid, a process calling getpid in a loop until a
 * signal ends it. Process `id` pins itself to cpu id + 1 when that cpu exists, so with one
 * process per cpu but cpu 0 each is always running: never stopped where the livepatch
 * transition could check its stack, it can only switch on its way back to user mode.
 *
 * futex_sleeper: a process asleep in futex_wait for as long as nobody changes the word, with a
 * SIGUSR1 handler; it records what every futex_wait returned to it, and what its handler saw.
 * futex_waker: changes the word and wakes the sleeper once for every time the host sets
 * futex_release (a test's "echo > fifo").
 */
#include "ulib.h"

long getpid_loop(long id);
long getpid_loop(long id)
{
	sys_sched_setaffinity(id + 1);
	for (;;)
		sys_getpid();
	return 0;
}

volatile u32 futex_word;
volatile u32 futex_release;
/* what the sleeper saw: futex_wait returns, by result; its handler's runs */
volatile u64 futex_returns_ok, futex_returns_eagain, futex_returns_eintr, futex_returns_other;
volatile long futex_last_error;
volatile u64 futex_handler_runs;

static void on_futex_signal(int sig)
{
	futex_handler_runs++;
}

long futex_sleeper(long arg);
long futex_sleeper(long arg)
{
	sys_sigaction(SIGUSR1, on_futex_signal);
	for (;;) {
		long r = sys_futex_wait(&futex_word, futex_word);

		if (r == 0)
			futex_returns_ok++;
		else if (r == -EAGAIN)
			futex_returns_eagain++;
		else if (r == -EINTR)
			futex_returns_eintr++;
		else
			futex_returns_other++;
		if (r)
			futex_last_error = r;
	}
	return 0;
}

long futex_waker(long arg);
long futex_waker(long arg)
{
	for (;;) {
		sys_sleep_ms(50);
		if (futex_release) {
			futex_release = 0;
			futex_word++;
			sys_futex_wake(&futex_word);
		}
	}
	return 0;
}
