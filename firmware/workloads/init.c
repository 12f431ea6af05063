// SPDX-License-Identifier: GPL-2.0-or-later
/* pid 1: start the kernel side of the workload, then become the user-mode init. */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/boot.h>
#include <lab/hostcall.h>
#include <lab/workqueue.h>
#include <lab/workloads.h>

extern const char user_init[];

int kernel_init(void *unused)
{
	printk(KERN_INFO "Run user_init as init process (workload %u)\n", boot_params.workload);
	hostd_start();
	workqueue_init();
	start_workload_kthreads(boot_params.workload);
	if (kernel_execve_user((u64)user_init, boot_params.workload, boot_params.nr_user,
			       boot_params.seed, "init"))
		panic("cannot start init");
	return 0;
}
