// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch benchmark's workload (bench/livepatch.ts): many kthreads asleep at the bottom
 * of a call chain, which every transition pass must unwind and check; 64 small functions for
 * patch modules to replace (patches/test_klp_bench.c replaces the first N); two threads that
 * keep a transition from completing while the host says so; and a pinned thread that calls a
 * patched function in a loop, for counting what a call costs.
 */
#include <lab/sched.h>
#include <lab/wait.h>
#include <lab/boot.h>
#include <lab/livepatch.h>
#include <lab/klp_bench.h>
#include <lab/workloads.h>

#define KLP_BENCH_SLEEPERS 16 /* without nr_kthreads */
#define KLP_BENCH_NAP_MS   10

#define BENCH_FN(n)                              \
	noinline long bench_fn_##n(long x);      \
	noinline long bench_fn_##n(long x)       \
	{                                        \
		return klp_bench_body(x, 0x##n); \
	}
KLP_BENCH_ALL_FUNCS(BENCH_FN)

/* Controlled by the host, like module parameters. */
volatile int klp_bench_hold = 1; /* the kbhold threads sleep inside bench_fn_00 */
volatile int klp_bench_spin;	 /* kbcall calls bench_fn_00 without pause */
/* What the host reads. */
unsigned long klp_bench_sleepers; /* kbsleep threads that reached their sleep */
volatile long klp_bench_result;	  /* kbcall's last result: whose tag it carries */
volatile unsigned long klp_bench_calls;

static DECLARE_WAIT_QUEUE_HEAD(klp_bench_wq);

/* Nothing ever wakes the sleepers but a livepatch fake signal; they go back to sleep. */
noinline int klp_bench_wait(long id)
{
	return wait_event_interruptible(klp_bench_wq, false);
}

/* Each level does work after its call, so each keeps its frame. */
#define BENCH_STEP(name, next)      \
	noinline int name(long id); \
	noinline int name(long id)  \
	{                           \
		int r = next(id);   \
                                    \
		barrier();          \
		return r + 1;       \
	}
BENCH_STEP(klp_bench_chain_c, klp_bench_wait)
BENCH_STEP(klp_bench_chain_b, klp_bench_chain_c)
BENCH_STEP(klp_bench_chain_a, klp_bench_chain_b)

static int bench_sleeper(void *arg)
{
	long id = (long)arg;

	__atomic_fetch_add(&klp_bench_sleepers, 1, __ATOMIC_RELAXED);
	for (;;) {
		klp_bench_chain_a(id);
		if (signal_pending(current))
			flush_signals(current);
	}
	return 0;
}

/*
 * kbhold/0 sleeps inside bench_fn_00 over and over: whichever version the handler gives it is
 * the one its patch state forbids leaving, so no transition completes while it holds.
 * kbhold/1 joins only once it is in the patched state: it then sleeps in the new version and
 * holds a transition that was reversed back to unpatching, where kbhold/0 would not.
 */
static int bench_holder(void *arg)
{
	long id = (long)arg;

	for (;;) {
		if (READ_ONCE(klp_bench_hold) &&
		    (id == 0 || READ_ONCE(current->patch_state) == KLP_PATCHED))
			bench_fn_00(-KLP_BENCH_NAP_MS);
		else
			msleep(KLP_BENCH_NAP_MS);
		if (signal_pending(current))
			flush_signals(current);
	}
	return 0;
}

/*
 * Pinned to the last cpu. While it spins it is always running, so it keeps the patch state it
 * had when the transition began; it passes an RCU quiescent state between calls (it holds no
 * read-side section there) so grace periods still end.
 */
static int bench_caller(void *arg)
{
	long x = 0;

	for (;;) {
		while (READ_ONCE(klp_bench_spin)) {
			WRITE_ONCE(klp_bench_result, bench_fn_00(x));
			WRITE_ONCE(klp_bench_calls, klp_bench_calls + 1);
			x = (x + 1) & 0xffff;
			rcu_all_qs();
		}
		msleep(KLP_BENCH_NAP_MS);
	}
	return 0;
}

void start_klp_bench(void)
{
	int n = boot_params.nr_kthreads ? boot_params.nr_kthreads : KLP_BENCH_SLEEPERS, i;

	for (i = 0; i < n; i++)
		spawn(bench_sleeper, i, "kbsleep/%d", -1);
	spawn(bench_holder, 0, "kbhold/%d", -1);
	spawn(bench_holder, 1, "kbhold/%d", -1);
	spawn(bench_caller, 0, "kbcall", nr_cpu_ids - 1);
}
