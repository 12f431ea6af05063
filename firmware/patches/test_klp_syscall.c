// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The selftests' test_klp_syscall: replaces the getpid system call with a version that crosses
 * each listed process off the first time it runs the new code. npids_pending reaching 0 says
 * every listed process has switched to the patched state (the kernel module shows it in
 * /sys/kernel/test_klp_syscall/npids; the test reads it from guest memory).
 *
 * The pids come as a module parameter array, klp_pids=3,4,5, as in the kernel's module.
 */
#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/spinlock.h>

#define KLP_MAX_PIDS 64

static int klp_pids[KLP_MAX_PIDS];
static unsigned int npids, npids_pending;
module_param_array(klp_pids, int, &npids, 0);
MODULE_PARM_DESC(klp_pids, "Array of pids to be transitioned to livepatched state.");
static DEFINE_SPINLOCK(klp_pids_lock);

static long lp_sys_getpid(struct pt_regs *regs)
{
	int pid = current->pid;
	unsigned long flags = spin_lock_irqsave(&klp_pids_lock);
	unsigned int i;

	for (i = 0; npids_pending && i < npids; i++) {
		if (klp_pids[i] != pid)
			continue;
		/* once per process: its entry is cleared */
		klp_pids[i] = 0;
		npids_pending--;
		break;
	}
	spin_unlock_irqrestore(&klp_pids_lock, flags);
	return pid;
}

static struct klp_func funcs[] = {{.old_name = "sys_getpid", .new_func = lp_sys_getpid}, {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_syscall_init(void)
{
	npids_pending = npids;
	return klp_enable_patch(&patch);
}

static void test_klp_syscall_exit(void)
{
}

module_init(test_klp_syscall_init);
module_exit(test_klp_syscall_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: syscall transition");
__MODULE_INFO(livepatch, "Y");
