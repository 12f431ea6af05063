// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Things a task can read, like files under /proc: functions that fill a buffer, which the host
 * calls from a task (khostd) the way `cat` would read the file. Livepatch tests patch them.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/boot.h>
#include <lab/proc.h>

static const char *const workload_names[NR_WORKLOADS] = {
	"idle", "default", "cpu-bound", "syscall", "probe", "null-deref", "fork",
};

/* /proc/cmdline */
noinline int lab_cmdline_show(char *buf, long size)
{
	unsigned int w = boot_params.workload;

	return snprintf(buf, size, "klp-lab workload=%s nr_cpus=%u\n",
			w < NR_WORKLOADS ? workload_names[w] : "?", nr_cpu_ids);
}

/* One "Name: value" line. time.c has a static function of the same name (format_value,1 here). */
static noinline int format_value(char *buf, long size, const char *name, unsigned long v)
{
	return snprintf(buf, size, "%s: %lu\n", name, v);
}

/* /proc/meminfo, the part the tests use: the thread count, with a pr_debug() the dynamic
 * debug tests turn on (they find its line in the control file) */
noinline int lab_meminfo_show(char *buf, long size)
{
	extern unsigned int nr_threads;

	pr_debug("meminfo: %u threads\n", nr_threads);
	return format_value(buf, size, "Threads", nr_threads);
}
