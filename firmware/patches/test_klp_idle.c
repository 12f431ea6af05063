// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Patches a function of the idle path, cpuidle_not_available(), which every cpu calls each
 * time it goes idle, inside RCU's extended quiescent state: the handler then runs where RCU is
 * not watching (842c0884, "livepatch: Fix stacking of patches with respect to RCU"). The new
 * version answers the same and counts its calls, so that a run shows the idle cpus took it.
 */
#include <linux/module.h>
#include <linux/livepatch.h>

unsigned long klp_idle_calls;

static bool livepatch_cpuidle_not_available(void)
{
	WRITE_ONCE(klp_idle_calls, klp_idle_calls + 1);
	return true;
}

static struct klp_func funcs[] = {
	{.old_name = "cpuidle_not_available", .new_func = livepatch_cpuidle_not_available}, {}};

static struct klp_object objs[] = {{
					   /* name NULL: the kernel image */
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_idle_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_idle_exit(void)
{
}

module_init(test_klp_idle_init);
module_exit(test_klp_idle_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
