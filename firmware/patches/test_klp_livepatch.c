// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The simplest livepatch, as the kernel's selftest module test_klp_livepatch: replace what
 * /proc/cmdline shows (lab_cmdline_show) with a line saying which patch live patched it.
 */
#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/printk.h>

static int livepatch_cmdline_show(char *buf, long size)
{
	return snprintf(buf, size, "%s: %s\n", KBUILD_MODNAME, "this has been live patched");
}

static struct klp_func funcs[] = {{
					  .old_name = "lab_cmdline_show",
					  .new_func = livepatch_cmdline_show,
				  },
				  {}};

static struct klp_object objs[] = {{
					   /* name NULL: the kernel image */
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_livepatch_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_livepatch_exit(void)
{
}

module_init(test_klp_livepatch_init);
module_exit(test_klp_livepatch_exit);
MODULE_LICENSE("GPL");
__MODULE_INFO(livepatch, "Y");
