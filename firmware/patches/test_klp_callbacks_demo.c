// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A livepatch with all four callbacks on three objects -- the kernel image and two target
 * modules that may or may not be loaded -- each logging which object it ran for and the state
 * of that object's module, so a test sees the order the core runs them in. pre_patch returns
 * the pre_patch_ret parameter: a non-zero value makes the enable, or a target module's load,
 * fail. busymod_work_func of test_klp_callbacks_busy is replaced.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/printk.h>
#include <linux/workqueue.h>

static int pre_patch_ret;
module_param(pre_patch_ret, int, 0644);
MODULE_PARM_DESC(pre_patch_ret, "pre_patch_ret (default=0)");

static const char *const module_state[] = {
	[MODULE_STATE_LIVE] = "[MODULE_STATE_LIVE] Normal state",
	[MODULE_STATE_COMING] = "[MODULE_STATE_COMING] Full formed, running module_init",
	[MODULE_STATE_GOING] = "[MODULE_STATE_GOING] Going away",
	[MODULE_STATE_UNFORMED] = "[MODULE_STATE_UNFORMED] Still setting it up",
};

static void callback_info(const char *callback, struct klp_object *obj)
{
	if (obj->mod)
		pr_info("%s: %s -> %s\n", callback, obj->mod->name, module_state[obj->mod->state]);
	else
		pr_info("%s: vmlinux\n", callback);
}

static int pre_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	return READ_ONCE(pre_patch_ret);
}

static void post_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
}

static void post_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
}

static void patched_work_func(struct work_struct *work)
{
	pr_info("%s\n", __func__);
}

static struct klp_func no_funcs[] = {{}};

static struct klp_func busymod_funcs[] = {{
						  .old_name = "busymod_work_func",
						  .new_func = patched_work_func,
					  },
					  {}};

#define ALL_CALLBACKS                                                                       \
	{                                                                                   \
		.pre_patch = pre_patch_callback, .post_patch = post_patch_callback,         \
		.pre_unpatch = pre_unpatch_callback, .post_unpatch = post_unpatch_callback, \
	}

static struct klp_object objs[] = {{
					   .name = NULL, /* vmlinux */
					   .funcs = no_funcs,
					   .callbacks = ALL_CALLBACKS,
				   },
				   {
					   .name = "test_klp_callbacks_mod",
					   .funcs = no_funcs,
					   .callbacks = ALL_CALLBACKS,
				   },
				   {
					   .name = "test_klp_callbacks_busy",
					   .funcs = busymod_funcs,
					   .callbacks = ALL_CALLBACKS,
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_callbacks_demo_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_callbacks_demo_exit(void)
{
}

module_init(test_klp_callbacks_demo_init);
module_exit(test_klp_callbacks_demo_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: livepatch demo");
