// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kernel-side workloads: kthreads that sleep at the bottom of deep call chains (what blocks a
 * livepatch transition), a waker for them, CPU-bound kthreads that only yield through
 * cond_resched(), pinned probe threads, a thread that faults, and one that keeps forking. The call chains are real
 * functions, each doing work after its call so the compiler keeps every frame.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/wait.h>
#include <lab/boot.h>
#include <lab/lib.h>
#include <lab/syscalls.h>
#include <lab/workloads.h>

static DECLARE_WAIT_QUEUE_HEAD(deep_wq);
static volatile unsigned long deep_generation;
unsigned long deep_stats[8];
unsigned long crunch_progress[NR_CPUS];
u64 crunch_last[NR_CPUS]; /* the value after crunch_progress[id] rounds: the host recomputes it */
volatile int probe_seen[NR_CPUS];
volatile unsigned long probe_calls[NR_CPUS];
int *volatile lab_null_ptr;

#define DEEP_STEP(name, next, k)                              \
	noinline int name(unsigned long seen, int mode);      \
	noinline int name(unsigned long seen, int mode)       \
	{                                                     \
		int r = next(seen, mode);                     \
                                                              \
		WRITE_ONCE(deep_stats[k], deep_stats[k] + 1); \
		return r + 1;                                 \
	}

noinline int deep_sleep(unsigned long seen, int mode)
{
	if (mode & 1) {
		msleep(10 + 10 * (mode & 6));
		return 0;
	}
	return wait_event_interruptible(deep_wq, READ_ONCE(deep_generation) != seen);
}

DEEP_STEP(deep_f, deep_sleep, 5)
DEEP_STEP(deep_e, deep_f, 4)
DEEP_STEP(deep_d, deep_e, 3)
DEEP_STEP(deep_c, deep_d, 2)
DEEP_STEP(deep_b, deep_c, 1)
DEEP_STEP(deep_a, deep_b, 0)

static int deep_sleeper(void *arg)
{
	long id = (long)arg;
	unsigned long round = 0;

	for (;;) {
		deep_a(READ_ONCE(deep_generation), (int)((id + round++) & 7));
		if (signal_pending(current))
			flush_signals(current);
	}
	return 0;
}

/* Set by the host (as a debugger pokes a variable) to hold the kdeep threads in their waits. */
volatile int deep_waker_paused;

static int deep_waker(void *arg)
{
	for (;;) {
		msleep(30);
		if (READ_ONCE(deep_waker_paused))
			continue;
		WRITE_ONCE(deep_generation, deep_generation + 1);
		wake_up_all(&deep_wq);
	}
	return 0;
}

noinline u64 crunch_step(u64 x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

noinline u64 crunch(u64 x, int n);
noinline u64 crunch(u64 x, int n)
{
	int i;

	for (i = 0; i < n; i++)
		x = crunch_step(x) + i;
	return x;
}

static int cpu_hog(void *arg)
{
	long id = (long)arg;
	u64 x = boot_params.seed + id + 1;
	unsigned long iter = 0;

	for (;;) {
		x = crunch(x, 64);
		WRITE_ONCE(crunch_last[id], x);
		WRITE_ONCE(crunch_progress[id], crunch_progress[id] + 1);
		if (++iter % 4 == 0)
			cond_resched_tasks_rcu_qs(); /* never sleeps: see probe_thread */
	}
	return 0;
}

static int probe_thread(void *arg)
{
	int cpu = (long)arg;

	for (;;) {
		WRITE_ONCE(probe_seen[cpu], lab_probe());
		WRITE_ONCE(probe_calls[cpu], probe_calls[cpu] + 1);
		/* it never sleeps: without this, no RCU-tasks grace period (a retired ftrace
		 * trampoline's) could end while it runs */
		cond_resched_tasks_rcu_qs();
	}
	return 0;
}

/*
 * The kernel side of the fork workload, kthreadd in miniature: a busy kthread that keeps
 * creating kernel threads that sleep a while and exit. Its only switch point is the
 * cond_resched() inside copy_process(), and its children never return to user mode, so a
 * child keeps whatever pending flag fork gave it until the host switches it.
 */
#define KFORK_WORK 3000 /* crunch steps between two forks: ~40 emulated ms */
volatile unsigned long kfork_children;
volatile u64 kfork_sink;

static int kfork_child(void *arg)
{
	msleep(1200 + ((long)arg % 8) * 100);
	return 0;
}

static int kforker(void *arg)
{
	u64 x = boot_params.seed + (long)arg + 1;
	char name[TASK_COMM_LEN];
	unsigned long n;

	for (n = 0;; n++) {
		snprintf(name, sizeof(name), "kchild/%lu", n);
		if (kthread_run(kfork_child, (void *)n, name))
			WRITE_ONCE(kfork_children, kfork_children + 1);
		x = crunch(x, KFORK_WORK);
		kfork_sink = x;
	}
	return 0;
}

/*
 * A task whose saved return address is the first byte after its function: park_after_work()
 * ends with a call to a function that never returns, so the return address points past it.
 * Unwinders must look such addresses up at ip - 1 (the kernel's rule); this task makes a
 * lookup at ip visibly wrong.
 */
volatile int parked;

static noinline void __noreturn park_forever(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule();
		if (signal_pending(current))
			flush_signals(current);
	}
}

noinline __noreturn void park_after_work(void);
noinline __noreturn void park_after_work(void)
{
	WRITE_ONCE(parked, parked + 1);
	park_forever();
}

static int parked_thread(void *arg)
{
	park_after_work();
}

static int null_deref(void *arg)
{
	msleep(20);
	printk(KERN_INFO "kfault: about to dereference NULL\n");
	lab_fault_null();
	return 0;
}

void spawn(int (*fn)(void *), long arg, const char *fmt, int cpu)
{
	char name[TASK_COMM_LEN];
	struct task_struct *p;

	snprintf(name, sizeof(name), fmt, arg);
	p = kthread_create(fn, (void *)arg, name);
	if (!p)
		panic("cannot create %s", name);
	if (cpu >= 0)
		kthread_bind(p, cpu);
	wake_up_new_task(p);
}

/* Called by init before it enters user mode. */
void start_workload_kthreads(unsigned int workload)
{
	int n = boot_params.nr_kthreads, i;

	switch (workload) {
	case WORKLOAD_DEFAULT:
		for (i = 0; i < (n ? n : 4); i++)
			spawn(deep_sleeper, i, "kdeep/%d", -1);
		spawn(deep_waker, 0, "kwaker", -1);
		spawn(parked_thread, 0, "kparked", -1);
		for (i = 0; i < (n ? n / 2 : 2); i++)
			spawn(cpu_hog, i, "khog/%d", -1);
		break;
	case WORKLOAD_CPU_BOUND:
		for (i = 0; i < (n ? n : (int)nr_cpu_ids); i++)
			spawn(cpu_hog, i, "khog/%d", -1);
		break;
	case WORKLOAD_PROBE:
		for (i = 0; i < (int)nr_cpu_ids; i++)
			spawn(probe_thread, i, "kprobe/%d", i);
		break;
	case WORKLOAD_NULL_DEREF:
		spawn(null_deref, 0, "kfault", -1);
		break;
	case WORKLOAD_FORK:
		for (i = 0; i < (n ? n : 1); i++)
			spawn(kforker, i, "kforker/%d", -1);
		break;
	case WORKLOAD_KLP_BENCH:
		start_klp_bench();
		break;
	}
}

/* SYS_work: user tasks spend time in the kernel at the bottom of a call chain. */
noinline u64 work_c(u64 x, int n);
noinline u64 work_c(u64 x, int n)
{
	u64 r = crunch(x, n);

	if ((r & 63) == 0)
		cond_resched();
	return r;
}

noinline u64 work_b(u64 x, int n);
noinline u64 work_b(u64 x, int n)
{
	return work_c(x, n) + 1;
}

noinline u64 work_a(u64 x, int n);
noinline u64 work_a(u64 x, int n)
{
	return work_b(x, n) + 1;
}

long sys_work(const struct pt_regs *regs)
{
	int n = regs->di > 1000 ? 1000 : regs->di;

	return (long)(work_a(current->pid, n) & 0x7fffffff);
}
