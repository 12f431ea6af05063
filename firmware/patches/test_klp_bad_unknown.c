// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bad input: a livepatch naming a function the kernel does not have. Enabling it fails, with
 * or without an old_sympos (the sympos parameter).
 * test_klp_bad_unmarked reuses it for a module without MODULE_INFO(livepatch, "Y").
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

#ifndef BAD_OLD_NAME
#define BAD_OLD_NAME "lab_no_such_function"
#endif

static unsigned long sympos;
module_param(sympos, ulong, 0444);
MODULE_PARM_DESC(sympos, "old_sympos of the function (default=0)");

static int new_show(struct seq_file *m, void *v)
{
	return 0;
}

static struct klp_func funcs[] = {{
					  .old_name = BAD_OLD_NAME,
					  .new_func = new_show,
				  },
				  {}};

static struct klp_object objs[] = {{
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_bad_unknown_init(void)
{
	funcs[0].old_sympos = sympos;
	return klp_enable_patch(&patch);
}

static void test_klp_bad_unknown_exit(void)
{
}

module_init(test_klp_bad_unknown_init);
module_exit(test_klp_bad_unknown_exit);
MODULE_LICENSE("GPL");
#ifndef BAD_UNMARKED
MODULE_INFO(livepatch, "Y");
#endif
