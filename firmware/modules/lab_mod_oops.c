// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module whose code faults: with crash=1 its init calls, two module frames deep, a function
 * that writes through a NULL pointer. The oops report must name the module's functions
 * ("func+0x../0x.. [lab_mod_oops]") in RIP, the call trace and the disassembly.
 */
#include <linux/module.h>
#include <linux/printk.h>

static bool crash;
module_param(crash, bool, 0444);

int *volatile lab_oops_ptr;

static noinline void lab_oops_deref(int v)
{
	*lab_oops_ptr = v;
}

static noinline int lab_oops_work(int v)
{
	lab_oops_deref(v + 1);
	return v;
}

static int lab_mod_oops_init(void)
{
	if (READ_ONCE(crash))
		return lab_oops_work(41) - 41;
	return 0;
}

static void lab_mod_oops_exit(void)
{
}

module_init(lab_mod_oops_init);
module_exit(lab_mod_oops_exit);
MODULE_LICENSE("GPL");
