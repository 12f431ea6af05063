/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jiffies (cpu 0's tick count, HZ a second) and conversions. HZ is the image's variable, not a
 * constant, so these are functions of it; the comparisons stay right across a wrap.
 */
#ifndef _LINUX_JIFFIES_H
#define _LINUX_JIFFIES_H
#include <lab/sched.h>

#define time_after(a, b)     ((long)((b) - (a)) < 0)
#define time_before(a, b)    time_after(b, a)
#define time_after_eq(a, b)  ((long)((a) - (b)) >= 0)
#define time_before_eq(a, b) time_after_eq(b, a)

/* Rounded up, as the kernel's: a wait of m ms lasts at least m ms. */
static inline unsigned long msecs_to_jiffies(unsigned int m)
{
	return ((unsigned long)m * HZ + 999) / 1000;
}

static inline unsigned int jiffies_to_msecs(unsigned long j)
{
	return j * 1000 / HZ;
}

#endif
