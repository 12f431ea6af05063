// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replaces deep_c(), a frame in the middle of the call chain the kdeep kthreads sleep in: a
 * task asleep below deep_c has it on its stack and cannot switch until it leaves.
 */
#include <linux/module.h>
#include <linux/livepatch.h>

/* The deep_stats slot this version of deep_c counts its calls in (test_klp_deep2 uses 6). */
#ifndef DEEP_STAT
#define DEEP_STAT 7
#endif

extern unsigned long deep_stats[8];
int deep_d(unsigned long seen, int mode);

static int livepatch_deep_c(unsigned long seen, int mode)
{
	int r = deep_d(seen, mode);

	WRITE_ONCE(deep_stats[DEEP_STAT], deep_stats[DEEP_STAT] + 1);
	return r + 1;
}

static struct klp_func funcs[] = {{.old_name = "deep_c", .new_func = livepatch_deep_c}, {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_deep_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_deep_exit(void)
{
}

module_init(test_klp_deep_init);
module_exit(test_klp_deep_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
