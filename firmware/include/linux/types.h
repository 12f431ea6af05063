/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's basic types, over the firmware's. */
#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H
#include <lab/types.h>
#include <lab/gfp.h>

typedef int pid_t;
typedef long loff_t;
typedef unsigned short umode_t;
typedef u64 phys_addr_t;

#endif
