// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A livepatch for a function of a loadable module, test_klp_mod_target_show(): applied at
 * enable if the module is loaded, else when it loads (the core's module notifier).
 */
#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/printk.h>

static int livepatch_mod_target_show(char *buf, long size)
{
	return snprintf(buf, size, "%s: %s\n", KBUILD_MODNAME, "this has been live patched");
}

static struct klp_func funcs[] = {{
					  .old_name = "test_klp_mod_target_show",
					  .new_func = livepatch_mod_target_show,
				  },
				  {}};

static struct klp_object objs[] = {{
					   .name = "test_klp_mod_target",
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_mod_patch_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_mod_patch_exit(void)
{
}

module_init(test_klp_mod_patch_init);
module_exit(test_klp_mod_patch_exit);
MODULE_LICENSE("GPL");
__MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: patch for module-provided function");
