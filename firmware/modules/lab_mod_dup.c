// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module exporting a function named like a static function of the image (kernel/lib.c's
 * printf_put_num). Loading it is fine (an image static is not an export); once it is loaded the name
 * printf_put_num has two candidates, so a module referring to it (lab_mod_ambiguous) must be refused
 * with an error naming both.
 */
#include <linux/module.h>

MODULE_LICENSE("GPL");

/* what the tests call by name */
long printf_put_num(long x);

noinline long printf_put_num(long x)
{
	return x * 2;
}
EXPORT_SYMBOL(printf_put_num);
