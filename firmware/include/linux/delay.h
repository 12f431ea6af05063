/* SPDX-License-Identifier: GPL-2.0-or-later */
/* msleep(): sleep at least that long (in whole ticks, as the kernel's). */
#ifndef _LINUX_DELAY_H
#define _LINUX_DELAY_H
#include <lab/sched.h>

#endif
