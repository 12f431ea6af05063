/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The /proc files' show functions, with the kernel's names and signature: the host calls them
 * with a seq_file to read a file, and the livepatch selftests patch them.
 */
#ifndef LAB_PROC_H
#define LAB_PROC_H
#include <lab/seq_file.h>

noinline int cmdline_proc_show(struct seq_file *m, void *v); /* kernel/proc.c */
noinline int meminfo_proc_show(struct seq_file *m, void *v); /* kernel/proc.c */
noinline int uptime_proc_show(struct seq_file *m, void *v);  /* kernel/time.c */

#endif
