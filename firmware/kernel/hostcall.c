// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The guest half of host calls, and khostd, the kthread that runs the host's work in task
 * context. The livepatch core lives in the host, but some of its work must run as a task: a
 * sysfs write runs in the writer's process and the transition work in a kworker, and both call
 * guest code (callbacks, module init). The host queues such work, raises HOST_EVENT_VECTOR,
 * and khostd picks it up with HC_HOSTD_WORK.
 */
#include <lab/sched.h>
#include <lab/wait.h>
#include <lab/printk.h>
#include <lab/hostcall.h>

static long host_call_raw(long op, struct host_reply *r, long a0, long a1, long a2)
{
	long ret;

	__asm__ __volatile__("int $0x81"
			     : "=a"(ret)
			     : "a"(op), "D"(r), "S"(a0), "d"(a1), "c"(a2)
			     : "memory");
	return ret;
}

long host_call(long op, long a0, long a1, long a2)
{
	struct host_reply r = {.kind = HOST_REPLY_DONE};
	long v;

	host_call_raw(op, &r, a0, a1, a2);
	while (r.kind == HOST_REPLY_CALL) {
		v = r.fn(r.args[0], r.args[1], r.args[2], r.args[3]);
		host_call_raw(HC_RESUME, &r, v, 0, 0);
	}
	return r.value;
}

volatile long hostd_pending;
static DECLARE_WAIT_QUEUE_HEAD(hostd_wq);
struct task_struct *hostd_task;

static int hostd(void *unused)
{
	for (;;) {
		wait_event_interruptible(hostd_wq, READ_ONCE(hostd_pending));
		if (signal_pending(current))
			flush_signals(current);
		WRITE_ONCE(hostd_pending, 0);
		while (host_call(HC_HOSTD_WORK, 0, 0, 0))
			;
	}
	return 0;
}

/* HOST_EVENT_VECTOR: the host queued work. */
void host_event_interrupt(void)
{
	if (READ_ONCE(hostd_pending))
		wake_up(&hostd_wq);
}

void hostd_start(void)
{
	hostd_task = kthread_run(hostd, NULL, "khostd");
	if (!hostd_task)
		panic("cannot start khostd");
}
