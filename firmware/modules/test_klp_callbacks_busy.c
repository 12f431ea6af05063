// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A target module whose work item can stay inside busymod_work_func(), the function the
 * callback demo livepatch replaces: while block_transition is set, the kworker sleeps in it in
 * short naps, and a patching transition cannot switch that task.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include <linux/completion.h>

static bool block_transition;
module_param(block_transition, bool, 0644);
MODULE_PARM_DESC(block_transition, "block_transition (default=false)");

static void busymod_work_func(struct work_struct *work);
static DECLARE_WORK(work, busymod_work_func);
static DECLARE_COMPLETION(busymod_work_started);

static noinline void busymod_work_func(struct work_struct *work)
{
	pr_info("%s enter\n", __func__);
	complete(&busymod_work_started);

	/* stay in this function until the module is told to let go */
	while (READ_ONCE(block_transition))
		msleep(20);

	pr_info("%s exit\n", __func__);
}

static int test_klp_callbacks_busy_init(void)
{
	pr_info("%s\n", __func__);
	schedule_work(&work);
	/* the "enter" line comes before init returns, so the log order is fixed */
	wait_for_completion(&busymod_work_started);
	/* not blocking: the work function's lines all come before init returns */
	if (!READ_ONCE(block_transition))
		flush_work(&work);
	return 0;
}

static void test_klp_callbacks_busy_exit(void)
{
	WRITE_ONCE(block_transition, false);
	flush_work(&work);
	pr_info("%s\n", __func__);
}

module_init(test_klp_callbacks_busy_init);
module_exit(test_klp_callbacks_busy_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: busy target module");
