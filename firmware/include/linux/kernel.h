/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The grab bag every kernel file includes: types, printk, string helpers, min/max. */
#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H
#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/stringify.h>
#include <linux/linkage.h>
#include <linux/errno.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <linux/threads.h>
#include <linux/bug.h>

#define min(a, b)                      \
	({                             \
		typeof(a) __a = (a);   \
		typeof(b) __b = (b);   \
		__a < __b ? __a : __b; \
	})
#define max(a, b)                      \
	({                             \
		typeof(a) __a = (a);   \
		typeof(b) __b = (b);   \
		__a > __b ? __a : __b; \
	})
#define DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))

#endif
