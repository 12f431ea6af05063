// SPDX-License-Identifier: GPL-2.0-or-later
/* Bad input: a livepatch module without MODULE_INFO(livepatch, "Y"): klp_enable_patch() refuses it. */
#include <lab/module.h>
#include <lab/livepatch.h>

static int new_show(char *buf, long size)
{
	return 0;
}

static struct klp_func funcs[] = {
	{
		.old_name = "lab_cmdline_show",
		.new_func = new_show,
	},
	{}
};

static struct klp_object objs[] = {
	{
		.funcs = funcs,
	},
	{}
};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_bad_unmarked_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_bad_unmarked_exit(void)
{
}

module_init(test_klp_bad_unmarked_init);
module_exit(test_klp_bad_unmarked_exit);
MODULE_LICENSE("GPL");

