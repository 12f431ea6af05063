// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The simplest livepatch, as the kernel's selftest module test_klp_livepatch: replace what
 * /proc/cmdline shows (cmdline_proc_show) with a line saying which patch live patched it.
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "this has been live patched");
	return 0;
}

static struct klp_func funcs[] = {{
					  .old_name = "cmdline_proc_show",
					  .new_func = livepatch_cmdline_proc_show,
				  },
				  {}};

static struct klp_object objs[] = {{
					   /* name NULL: the kernel image */
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
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
MODULE_INFO(livepatch, "Y");
