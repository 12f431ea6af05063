// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module referring to printf_put_num, which names the image's static kernel/lib.c printf_put_num and,
 * while lab_mod_dup is loaded, lab_mod_dup's export too: the loader must not guess.
 */
#include <linux/module.h>

MODULE_LICENSE("GPL");

long printf_put_num(long x);

/* what the tests call by name */
long lab_ambiguous_call(long x);

noinline long lab_ambiguous_call(long x)
{
	return printf_put_num(x) + 1;
}
