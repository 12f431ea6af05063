// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The selftests' test_klp_syscall: replaces the getpid system call (__x64_sys_getpid, the
 * x86-64 wrapper's name) with a version that crosses each listed process off the first time it
 * runs the new code. /sys/kernel/test_klp_syscall/npids shows how many are still to come: 0
 * says every listed process has switched to the patched state.
 *
 * The pids come as a module parameter array, klp_pids=3,4,5, as in the kernel's module.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/livepatch.h>

static DEFINE_MUTEX(pids_lock);

static int klp_pids[NR_CPUS];
static unsigned int npids, npids_pending;
module_param_array(klp_pids, int, &npids_pending, 0);
MODULE_PARM_DESC(klp_pids, "Array of pids to be transitioned to livepatched state.");

static ssize_t npids_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sprintf(buf, "%u\n", npids_pending);
}

static struct kobj_attribute npids_attr = __ATTR_RO(npids);
static struct kobject *syscall_kobj;

static asmlinkage long lp_sys_getpid(void)
{
	unsigned int i;

	mutex_lock(&pids_lock);
	for (i = 0; npids_pending && i < npids; i++) {
		if (klp_pids[i] != current->pid)
			continue;
		/* once per process: its entry is cleared */
		klp_pids[i] = 0;
		npids_pending--;
		break;
	}
	mutex_unlock(&pids_lock);
	return task_tgid_vnr(current);
}

static struct klp_func funcs[] = {{.old_name = "__x64_sys_getpid", .new_func = lp_sys_getpid}, {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_syscall_init(void)
{
	int ret;

	syscall_kobj = kobject_create_and_add(KBUILD_MODNAME, kernel_kobj);
	if (!syscall_kobj)
		return -ENOMEM;
	ret = sysfs_create_file(syscall_kobj, &npids_attr.attr);
	if (ret) {
		kobject_put(syscall_kobj);
		return ret;
	}
	/* how many were listed, before the patched getpid starts counting them down */
	npids = npids_pending;
	ret = klp_enable_patch(&patch);
	if (ret)
		kobject_put(syscall_kobj);
	return ret;
}

static void test_klp_syscall_exit(void)
{
	kobject_put(syscall_kobj);
}

module_init(test_klp_syscall_init);
module_exit(test_klp_syscall_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: syscall transition");
MODULE_INFO(livepatch, "Y");
