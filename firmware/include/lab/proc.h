/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The /proc files' show functions: the host calls them to read a file, and the livepatch
 * selftests patch them (cf. cmdline_proc_show() and meminfo_proc_show() in the kernel).
 */
#ifndef LAB_PROC_H
#define LAB_PROC_H
#include <lab/types.h>

noinline int lab_cmdline_show(char *buf, long size); /* kernel/proc.c */
noinline int lab_meminfo_show(char *buf, long size); /* kernel/proc.c */
noinline int lab_uptime_show(char *buf, long size);  /* kernel/time.c */

#endif
