// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A second livepatch for test-livepatch: it changes what /proc/meminfo shows
 * (meminfo_proc_show). Loaded with replace=0 it stacks on test_klp_livepatch, which keeps its
 * own change of /proc/cmdline; with replace=1 it atomically replaces every older patch, so
 * /proc/cmdline goes back to the original (a nop func stands for it during the transition).
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static bool replace;
module_param(replace, bool, 0644);
MODULE_PARM_DESC(replace, "replace (default=0)");

static int livepatch_meminfo_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "this has been live patched");
	return 0;
}

static struct klp_func funcs[] = {{
					  .old_name = "meminfo_proc_show",
					  .new_func = livepatch_meminfo_proc_show,
				  },
				  {}};

static struct klp_object objs[] = {{
					   /* name NULL: the kernel image */
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE, .objs = objs,
	/* .replace is set from the parameter in init */
};

static int test_klp_atomic_replace_init(void)
{
	patch.replace = replace;
	return klp_enable_patch(&patch);
}

static void test_klp_atomic_replace_exit(void)
{
}

module_init(test_klp_atomic_replace_init);
module_exit(test_klp_atomic_replace_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: atomic replace");
