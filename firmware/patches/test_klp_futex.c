// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replaces the futex wait system call (sys_futex_wait) with a version that waits the same way
 * and counts the calls that ran it. A process asleep in the original has it on its stack and
 * blocks the transition; the fake signal wakes it, its call returns -ERESTARTSYS, it switches
 * on its way out to user mode and re-enters the call there, this time running this version.
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/wait.h>
#include <lab/syscall.h>

struct wait_queue_head *futex_queue(u64 uaddr);

unsigned long klp_futex_calls;
int klp_futex_last_pid;

static long livepatch_sys_futex_wait(struct pt_regs *regs)
{
	volatile u32 *uaddr = (volatile u32 *)regs->di;
	struct wait_queue_head *q = futex_queue(regs->di);
	struct wait_queue_entry w = {.task = current, .entry = {&w.entry, &w.entry}};
	long ret = 0;

	WRITE_ONCE(klp_futex_calls, klp_futex_calls + 1);
	WRITE_ONCE(klp_futex_last_pid, current->pid);
	prepare_to_wait(q, &w, TASK_INTERRUPTIBLE);
	if (*uaddr != (u32)regs->si)
		ret = -EAGAIN;
	else if (!signal_pending(current))
		schedule();
	if (!ret && signal_pending(current))
		ret = -ERESTARTSYS;
	finish_wait(q, &w);
	return ret;
}

static struct klp_func funcs[] = {
	{.old_name = "sys_futex_wait", .new_func = livepatch_sys_futex_wait}, {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_futex_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_futex_exit(void)
{
}

module_init(test_klp_futex_init);
module_exit(test_klp_futex_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: a user task asleep in a patched system call");
MODULE_INFO(livepatch, "Y");
