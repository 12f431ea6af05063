// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A target module whose interesting parts are static, so no module can link against them:
 * relocs_mod_calls counts the reads of test_klp_relocs_mod_show() (the lab reads it as
 * `cat /proc/test_klp_relocs_mod` would), relocs_mod_secret() is a helper only this file can
 * call. test_klp_relocs reaches both through livepatch relocations (klp-convert).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <lab/module.h>
#include <lab/printk.h>

static int relocs_mod_calls;

static noinline int relocs_mod_secret(int calls)
{
	return calls * 7;
}

noinline int test_klp_relocs_mod_show(char *buf, long size);
noinline int test_klp_relocs_mod_show(char *buf, long size)
{
	relocs_mod_calls++;
	return snprintf(buf, size, "%s: original output, read %d\n", KBUILD_MODNAME,
			relocs_mod_calls);
}

/* keeps relocs_mod_secret() in the object: the patch is its only other caller */
static int test_klp_relocs_mod_init(void)
{
	pr_info("%s: secret %d\n", __func__, relocs_mod_secret(0));
	return 0;
}

static void test_klp_relocs_mod_exit(void)
{
	pr_info("%s\n", __func__);
}

module_init(test_klp_relocs_mod_init);
module_exit(test_klp_relocs_mod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: target module with static function and variable");
