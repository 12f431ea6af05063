// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module whose init trips warnings: a WARN_ON_ONCE site reached three times (reported the
 * first time only) and a WARN_ON site reached three times, true twice (reported both times), two frames below
 * the init, so the reports' call traces can be checked.
 */
#include <linux/module.h>
#include <linux/printk.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: warnings, once and always");

static noinline int warn_once_check(int v)
{
	return WARN_ON_ONCE(v > 0);
}

static noinline int warn_always_check(int v)
{
	return WARN_ON(v > 0);
}

static noinline int warn_run(void)
{
	int i, n = 0;

	for (i = 0; i < 3; i++)
		n += warn_once_check(i + 1) + warn_always_check(i);
	return n;
}

static int warn_init(void)
{
	printk(KERN_INFO "lab_mod_warn: %d conditions true\n", warn_run());
	return 0;
}

module_init(warn_init);
