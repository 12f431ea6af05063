// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Things a task can read, like files under /proc: show functions with the kernel's names and
 * signature, which the host calls from a task (khostd) with a seq_file over its buffer, the way
 * a read of the file would. Livepatch tests patch them.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/boot.h>
#include <lab/proc.h>

static const char *const workload_names[NR_WORKLOADS] = {
	"idle", "default", "cpu-bound", "syscall", "probe", "null-deref", "fork",
};

/* /proc/cmdline */
noinline int cmdline_proc_show(struct seq_file *m, void *v)
{
	unsigned int w = boot_params.workload;

	seq_printf(m, "klp-lab workload=%s nr_cpus=%u\n",
		   w < NR_WORKLOADS ? workload_names[w] : "?", nr_cpu_ids);
	return 0;
}

/* One "Name: value" line. time.c has a static function of the same name (format_value,1 here). */
static noinline void format_value(struct seq_file *m, const char *name, unsigned long v)
{
	seq_printf(m, "%s: %lu\n", name, v);
}

/* /proc/meminfo, the part the tests use: the thread count, with a pr_debug() the dynamic
 * debug tests turn on (they find its line in the control file) */
noinline int meminfo_proc_show(struct seq_file *m, void *v)
{
	extern unsigned int nr_threads;

	pr_debug("meminfo: %u threads\n", nr_threads);
	format_value(m, "Threads", nr_threads);
	return 0;
}
