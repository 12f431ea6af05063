// SPDX-License-Identifier: GPL-2.0-or-later
/* The system calls user tasks make, and their table. */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/syscalls.h>
#include <lab/wait.h>
#include <lab/lib.h>
#include <lab/hostcall.h>

static long sys_write(const struct pt_regs *regs)
{
	char buf[LAB_EVENT_TEXT - 24];
	const char *s = (const char *)regs->di;
	size_t len = regs->si, i;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	for (i = 0; i < len; i++)
		buf[i] = s[i];
	buf[len] = 0;
	printk(KERN_INFO "%s[%d]: %s\n", current->comm, current->pid, buf);
	return len;
}

/* The name the kernel's x86-64 syscall wrapper gives it, which livepatches name. */
long __x64_sys_getpid(const struct pt_regs *regs)
{
	return current->pid;
}

static long sys_getppid(const struct pt_regs *regs)
{
	return current->parent ? current->parent->pid : 0;
}

static long sys_sched_yield(const struct pt_regs *regs)
{
	set_tsk_thread_flag(current, TIF_NEED_RESCHED);
	schedule();
	return 0;
}

static long sys_nanosleep(const struct pt_regs *regs)
{
	msleep(regs->di);
	return 0;
}

/*
 * Pin the calling task to one cpu (-1: any). A task only changes runqueue when it wakes up, so
 * one not on that cpu yet sleeps a tick at a time until a wakeup has put it there.
 */
static long sys_sched_setaffinity(const struct pt_regs *regs)
{
	long cpu = regs->di;

	if (cpu != -1 && (cpu < 0 || cpu >= nr_cpu_ids || !READ_ONCE(per_cpu[cpu].online)))
		return -EINVAL;
	WRITE_ONCE(current->pinned_cpu, cpu);
	while (cpu >= 0 && smp_processor_id() != cpu)
		msleep(1);
	return 0;
}

static long sys_clone(const struct pt_regs *regs)
{
	char comm[TASK_COMM_LEN];
	const char *name = (const char *)regs->dx;
	int i;

	for (i = 0; i < TASK_COMM_LEN - 1 && name && name[i]; i++)
		comm[i] = name[i];
	comm[i] = 0;
	return user_task_create(regs->di, regs->si, i ? comm : current->comm);
}

/*
 * write(fd, buf, len) for the stdout and stderr of a task the host spawned: they are its host
 * process's, which the host writes to. The lab's other tasks have no files; their SYS_write
 * goes to the kernel log.
 */
static long sys_write_fd(const struct pt_regs *regs)
{
	long fd = regs->di;

	if ((fd != 1 && fd != 2) || !(current->flags & PF_HOSTPROC))
		return -EBADF;
	return host_call(HC_PROC_WRITE, fd, regs->si, regs->dx);
}

static long sys_exit(const struct pt_regs *regs)
{
	do_exit((regs->di & 0xff) << 8);
}

/* futex: sleep while *uaddr == val; any wake on the same hash bucket rechecks. */
#define FUTEX_HASH 16
static struct wait_queue_head futex_queues[FUTEX_HASH];

/* noinline: patches/test_klp_futex.c, a livepatch of futex_wait, calls it */
static noinline struct wait_queue_head *futex_queue(u64 uaddr)
{
	struct wait_queue_head *q = &futex_queues[(uaddr >> 2) % FUTEX_HASH];

	if (!q->head.next)
		init_waitqueue_head(q);
	return q;
}

static long sys_futex_wait(const struct pt_regs *regs)
{
	volatile u32 *uaddr = (volatile u32 *)regs->di;
	struct wait_queue_head *q = futex_queue(regs->di);
	struct wait_queue_entry w = {.task = current, .entry = {&w.entry, &w.entry}};
	long ret = 0;

	prepare_to_wait(q, &w, TASK_INTERRUPTIBLE);
	if (*uaddr != (u32)regs->si)
		ret = -EAGAIN;
	else if (signal_pending(current))
		ret = -ERESTARTSYS;
	else
		schedule();
	/* a signal ended the sleep: restarted on the way out unless a handler runs */
	if (!ret && signal_pending(current))
		ret = -ERESTARTSYS;
	finish_wait(q, &w);
	return ret;
}

static long sys_futex_wake(const struct pt_regs *regs)
{
	wake_up_all(futex_queue(regs->di));
	return 0;
}

const syscall_fn_t sys_call_table[NR_syscalls] = {
	[SYS_write] = sys_write,
	[SYS_getpid] = __x64_sys_getpid,
	[SYS_sched_yield] = sys_sched_yield,
	[SYS_nanosleep] = sys_nanosleep,
	[SYS_clone] = sys_clone,
	[SYS_exit] = sys_exit,
	[SYS_kill] = sys_kill,
	[SYS_rt_sigaction] = sys_rt_sigaction,
	[SYS_rt_sigreturn] = sys_rt_sigreturn,
	[SYS_work] = sys_work,
	[SYS_futex_wait] = sys_futex_wait,
	[SYS_futex_wake] = sys_futex_wake,
	[SYS_getppid] = sys_getppid,
	[SYS_sched_setaffinity] = sys_sched_setaffinity,
	[SYS_write_fd] = sys_write_fd,
	[SYS_rt_sigprocmask] = sys_rt_sigprocmask,
	[SYS_rt_sigsuspend] = sys_rt_sigsuspend,
};
