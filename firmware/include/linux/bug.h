/* SPDX-License-Identifier: GPL-2.0-or-later */
/* WARN_ON() and friends, reported by the host with the kernel's WARNING report. */
#ifndef _LINUX_BUG_H
#define _LINUX_BUG_H
#include <lab/printk.h>

#endif
