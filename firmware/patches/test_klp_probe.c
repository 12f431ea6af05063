// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replaces lab_probe() (called in a loop by a pinned, CPU-bound kthread on every cpu) with a
 * version returning 2 that also checks the consistency model from the inside: the handler must
 * never send a task that is still in the unpatched state to the new code.
 */
#include <linux/module.h>
#include <linux/livepatch.h>

unsigned long klp_probe_calls;
unsigned long klp_probe_violations;

static int livepatch_lab_probe(void)
{
	WRITE_ONCE(klp_probe_calls, klp_probe_calls + 1);
	if (READ_ONCE(current->patch_state) == KLP_UNPATCHED)
		WRITE_ONCE(klp_probe_violations, klp_probe_violations + 1);
	return 2;
}

static struct klp_func funcs[] = {{.old_name = "lab_probe", .new_func = livepatch_lab_probe}, {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_probe_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_probe_exit(void)
{
}

module_init(test_klp_probe_init);
module_exit(test_klp_probe_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
