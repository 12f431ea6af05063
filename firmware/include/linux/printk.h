/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * printk() and the pr_*() helpers: a file's own pr_fmt() (defined before this is included)
 * prefixes every message; pr_debug() is a dynamic debug site, off until the control file
 * switches it on.
 */
#ifndef _LINUX_PRINTK_H
#define _LINUX_PRINTK_H
#include <lab/printk.h>

#endif
