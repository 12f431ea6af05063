/* SPDX-License-Identifier: GPL-2.0-or-later */
/* asmlinkage: on x86-64 the C calling convention is the one assembly calls with. */
#ifndef _LINUX_LINKAGE_H
#define _LINUX_LINKAGE_H
#include <linux/compiler.h>

#define asmlinkage

#endif
