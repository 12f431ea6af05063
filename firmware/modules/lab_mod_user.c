// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module that needs another: it calls lab_mod_hello's exported function and reads its
 * exported counter, so it can only load after lab_mod_hello, and lab_mod_hello cannot be
 * unloaded while it is loaded.
 */
#include <linux/module.h>
#include <linux/printk.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: uses lab_mod_hello's exports");

long lab_hello_greet(long n);
extern long lab_hello_calls;

/* what the tests call by name */
long lab_user_twice(long n);

noinline long lab_user_twice(long n)
{
	return lab_hello_greet(n) + lab_hello_greet(n);
}

static int user_init(void)
{
	long r = lab_user_twice(1);

	printk(KERN_INFO "lab_mod_user: loaded, greet twice=%ld calls=%ld\n", r, lab_hello_calls);
	return 0;
}

static void user_exit(void)
{
	printk(KERN_INFO "lab_mod_user: unloaded\n");
}

module_init(user_init);
module_exit(user_exit);
