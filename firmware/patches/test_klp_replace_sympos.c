// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An atomic replace patch of cmdline_proc_show that names it by position: old_sympos 1 (the
 * sympos parameter) is the first, and only, cmdline_proc_show -- the same function that
 * test_klp_livepatch names with old_sympos 0. Replacing that patch must take its func over,
 * not add a nop for it beside this one.
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static unsigned long sympos = 1;
module_param(sympos, ulong, 0444);
MODULE_PARM_DESC(sympos, "old_sympos of cmdline_proc_show (default=1)");

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
	.replace = true,
};

static int test_klp_replace_sympos_init(void)
{
	funcs[0].old_sympos = sympos;
	return klp_enable_patch(&patch);
}

static void test_klp_replace_sympos_exit(void)
{
}

module_init(test_klp_replace_sympos_init);
module_exit(test_klp_replace_sympos_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
