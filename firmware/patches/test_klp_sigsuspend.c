// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replaces rt_sigsuspend (sys_rt_sigsuspend) with a version that waits the same way and
 * counts the calls that ran it. The sigsuspend workload's two tasks spend their lives asleep
 * in it: each blocks the transition until it leaves the call, on a signal of its partner or a
 * fake one, and switches on its way back to user mode.
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <lab/syscall.h>

unsigned long klp_sigsuspend_calls;

static long livepatch_sys_rt_sigsuspend(struct pt_regs *regs)
{
	struct task_struct *t = current;
	u64 set = *(const u64 *)regs->di;

	WRITE_ONCE(klp_sigsuspend_calls, klp_sigsuspend_calls + 1);
	t->saved_sigmask = t->sig_blocked;
	set_current_blocked((u32)(set << 1) & ~1u);
	while (!signal_pending(t)) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule();
	}
	t->restore_sigmask = 1;
	return -ERESTARTNOHAND;
}

static struct klp_func funcs[] = {
	{.old_name = "sys_rt_sigsuspend", .new_func = livepatch_sys_rt_sigsuspend}, {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_sigsuspend_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_sigsuspend_exit(void)
{
}

module_init(test_klp_sigsuspend_init);
module_exit(test_klp_sigsuspend_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: tasks asleep in a patched rt_sigsuspend");
MODULE_INFO(livepatch, "Y");
