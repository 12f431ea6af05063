// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A target module with a /proc-like file of its own: test_klp_mod_target_show() is its show
 * function, which the lab calls from a task as `cat /proc/test_klp_mod_target` would.
 * test_klp_mod_patch replaces it, whether loaded before or after this module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/seq_file.h>

int test_klp_mod_target_show(struct seq_file *m, void *v);
noinline int test_klp_mod_target_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "original output");
	return 0;
}

static int test_klp_mod_target_init(void)
{
	pr_info("%s\n", __func__);
	return 0;
}

static void test_klp_mod_target_exit(void)
{
	pr_info("%s\n", __func__);
}

module_init(test_klp_mod_target_init);
module_exit(test_klp_mod_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: target module with proc entry");
