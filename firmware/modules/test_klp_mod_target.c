// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A target module with a /proc-like file of its own: test_klp_mod_target_show() fills a
 * buffer, which the lab reads from a task as `cat /proc/test_klp_mod_target` would.
 * test_klp_mod_patch replaces it, whether loaded before or after this module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <lab/module.h>
#include <lab/printk.h>

noinline int test_klp_mod_target_show(char *buf, long size);
noinline int test_klp_mod_target_show(char *buf, long size)
{
	return snprintf(buf, size, "%s: %s\n", KBUILD_MODNAME, "original output");
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
