/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The types of the lab's user programs' C library. */
#ifndef _SYS_TYPES_H
#define _SYS_TYPES_H

typedef unsigned long size_t;
typedef long ssize_t;
typedef int pid_t;

#endif
