// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A livepatch for format_value, a static function the kernel has twice (proc.c's, used by
 * /proc/meminfo, and time.c's, used by the uptime file). The sympos parameter is the
 * function's old_sympos: 0 is ambiguous and fails, 2 is time.c's, 3 does not exist.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

static unsigned long sympos;
module_param(sympos, ulong, 0444);
MODULE_PARM_DESC(sympos, "old_sympos of format_value (default=0)");

static void livepatch_format_value(struct seq_file *m, const char *name, unsigned long v)
{
	seq_printf(m, "%s %lu (%s)\n", name, v, THIS_MODULE->name);
}

static struct klp_func funcs[] = {{
					  .old_name = "format_value",
					  .new_func = livepatch_format_value,
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

static int test_klp_sympos_init(void)
{
	funcs[0].old_sympos = sympos;
	return klp_enable_patch(&patch);
}

static void test_klp_sympos_exit(void)
{
}

module_init(test_klp_sympos_init);
module_exit(test_klp_sympos_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
