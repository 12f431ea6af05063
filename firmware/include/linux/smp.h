/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_SMP_H
#define _LINUX_SMP_H
#include <lab/sched.h>

#endif
