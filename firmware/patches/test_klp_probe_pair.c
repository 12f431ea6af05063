// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replaces lab_probe() and the loop that calls it, probe_thread(), in one patch (the probe
 * workload's CPU-bound kthreads). probe_thread() never returns, so a kprobe thread always has
 * the old loop on its stack: the consistency model must never switch it, and its transition
 * never completes by itself. The consistency checker's tests use it for a stall and, with a
 * task's state faked in guest memory, for a task that runs the new lab_probe() from inside the
 * old loop.
 */
#include <linux/module.h>
#include <linux/livepatch.h>

int lab_probe(void);

static int livepatch_lab_probe(void)
{
	return 3;
}

/* never runs: no task enters probe_thread() again once the workload has started */
static int livepatch_probe_thread(void *arg)
{
	for (;;)
		lab_probe();
	return 0;
}

static struct klp_func funcs[] = {{.old_name = "lab_probe", .new_func = livepatch_lab_probe},
				  {.old_name = "probe_thread", .new_func = livepatch_probe_thread},
				  {}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_probe_pair_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_probe_pair_exit(void)
{
}

module_init(test_klp_probe_pair_init);
module_exit(test_klp_probe_pair_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
