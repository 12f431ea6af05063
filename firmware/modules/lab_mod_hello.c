// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The loader's plain test module: an init and an exit that printk, an exported counter and an
 * exported function other modules (lab_mod_user) and livepatches can call or target, and a
 * function that sleeps two module frames deep, so a task can be caught asleep in module code
 * and its stack unwound through the module's own ORC.
 */
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/sched.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: hello, a plain loadable module");

/* .bss: the loader must hand it out zeroed. */
long lab_hello_calls;
EXPORT_SYMBOL(lab_hello_calls);

/* .data: an initialised value the loader must copy; a read-only parameter. */
static long hello_base = 100;
module_param(hello_base, long, 0444);

/* what the tests call by name */
long lab_hello_greet(long n);
long lab_hello_sleep(long ms);

noinline long lab_hello_greet(long n)
{
	lab_hello_calls++;
	pr_debug("greet %ld\n", n);
	return n + hello_base;
}
EXPORT_SYMBOL(lab_hello_greet);

static noinline long hello_nap(unsigned int ms)
{
	msleep(ms);
	return READ_ONCE(lab_hello_calls);
}

/* Sleeps ms milliseconds in hello_nap() <- lab_hello_sleep(), then returns calls + 1. */
noinline long lab_hello_sleep(long ms)
{
	long r = hello_nap(ms);

	return r + 1;
}

static int hello_init(void)
{
	printk(KERN_INFO "lab_mod_hello: loaded\n");
	return 0;
}

static void hello_exit(void)
{
	printk(KERN_INFO "lab_mod_hello: unloaded after %ld calls\n", lab_hello_calls);
}

module_init(hello_init);
module_exit(hello_exit);
