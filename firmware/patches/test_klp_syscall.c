// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The selftests' test_klp_syscall: replaces the getpid system call with a version that crosses
 * each listed process off the first time it runs the new code. npids_pending reaching 0 says
 * every listed process has switched to the patched state (the kernel module shows it in
 * /sys/kernel/test_klp_syscall/npids; the test reads it from guest memory).
 *
 * The kernel module takes the pids as a module parameter array. Our modules have no
 * parameters: the test writes the pids into klp_pids after the module is placed and before its
 * init runs -- where the kernel parses a module's parameters -- and the init counts them (the
 * entries before the first 0; no process has pid 0).
 */
#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/spinlock.h>

#define KLP_MAX_PIDS 64

int klp_pids[KLP_MAX_PIDS];
unsigned int npids, npids_pending;
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

static struct klp_func funcs[] = {
	{ .old_name = "sys_getpid", .new_func = lp_sys_getpid },
	{}
};

static struct klp_object objs[] = {
	{ .funcs = funcs },
	{}
};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_syscall_init(void)
{
	while (npids < KLP_MAX_PIDS && klp_pids[npids])
		npids++;
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
