// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module whose init fails with -EINVAL: the loader must run it, then take the module away
 * again (notifiers told, memory released, nothing registered) and fail the load with -EINVAL.
 */
#include <linux/module.h>
#include <linux/printk.h>
#include <lab/syscall.h>

MODULE_LICENSE("GPL");

long lab_initfail_tries;

static int initfail_init(void)
{
	lab_initfail_tries++;
	printk(KERN_ERR "lab_mod_initfail: refusing to load\n");
	return -EINVAL;
}

static void initfail_exit(void)
{
	printk(KERN_ERR "lab_mod_initfail: exit must not run after a failed init\n");
}

module_init(initfail_init);
module_exit(initfail_exit);
