// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module that calls a function nothing defines: loading it must fail with an unresolved
 * symbol error naming lab_no_such_function and the place that refers to it.
 */
#include <linux/module.h>
#include <linux/printk.h>

MODULE_LICENSE("GPL");

long lab_no_such_function(long x);

/* what the tests call by name */
long lab_unresolved_call(long x);

noinline long lab_unresolved_call(long x)
{
	return lab_no_such_function(x) + 1;
}

static int unresolved_init(void)
{
	printk(KERN_INFO "lab_mod_unresolved: must never load\n");
	return 0;
}

module_init(unresolved_init);
