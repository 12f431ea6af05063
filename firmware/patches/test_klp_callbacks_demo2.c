// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A second callback livepatch, on the kernel image only and with no functions: loaded after
 * test_klp_callbacks_demo it stacks on it, or, with replace=1, atomically replaces it -- then
 * the replaced patch's unpatch callbacks never run.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/printk.h>

static bool replace;
module_param(replace, bool, 0644);
MODULE_PARM_DESC(replace, "replace (default=0)");

static void callback_info(const char *callback, struct klp_object *obj)
{
	if (obj->mod)
		pr_info("%s: %s\n", callback, obj->mod->name);
	else
		pr_info("%s: vmlinux\n", callback);
}

static int pre_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	return 0;
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

static struct klp_func no_funcs[] = {{}};

static struct klp_object objs[] = {{
					   .name = NULL, /* vmlinux */
					   .funcs = no_funcs,
					   .callbacks =
						   {
							   .pre_patch = pre_patch_callback,
							   .post_patch = post_patch_callback,
							   .pre_unpatch = pre_unpatch_callback,
							   .post_unpatch = post_unpatch_callback,
						   },
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE, .objs = objs,
	/* .replace is set from the parameter in init */
};

static int test_klp_callbacks_demo2_init(void)
{
	patch.replace = replace;
	return klp_enable_patch(&patch);
}

static void test_klp_callbacks_demo2_exit(void)
{
}

module_init(test_klp_callbacks_demo2_init);
module_exit(test_klp_callbacks_demo2_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: livepatch demo2");
