// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A cumulative (replace) livepatch that changes a system state -- it raises console_loglevel
 * -- and declares it as klp_state {1, version 1}: the callbacks save the old level in space
 * the state's data points at, set the new one after the transition, and put it back when the
 * patch goes. Version 1 knows no predecessor: it cannot take over a change made by another
 * patch, and a newer version is not compatible with it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/printk.h>
#include <lab/mm.h>
#include <lab/errno.h>

#define CONSOLE_LOGLEVEL_STATE 1
#define CONSOLE_LOGLEVEL_STATE_VERSION 1

static struct klp_patch patch;

static void callback_info(const char *callback, struct klp_object *obj)
{
	if (obj->mod)
		pr_info("%s: %s\n", callback, obj->mod->name);
	else
		pr_info("%s: vmlinux\n", callback);
}

static int allocate_loglevel_state(void)
{
	struct klp_state *state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);

	if (!state)
		return -EINVAL;
	state->data = kzalloc(sizeof(console_loglevel));
	if (!state->data)
		return -ENOMEM;
	pr_info("%s: allocating space to store console_loglevel\n", __func__);
	return 0;
}

static void fix_console_loglevel(void)
{
	struct klp_state *state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);

	if (!state)
		return;
	pr_info("%s: fixing console_loglevel\n", __func__);
	*(int *)state->data = console_loglevel;
	console_loglevel = CONSOLE_LOGLEVEL_MOTORMOUTH;
}

static void restore_console_loglevel(void)
{
	struct klp_state *state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);

	if (!state)
		return;
	pr_info("%s: restoring console_loglevel\n", __func__);
	console_loglevel = *(int *)state->data;
}

static void free_loglevel_state(void)
{
	struct klp_state *state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);

	if (!state)
		return;
	pr_info("%s: freeing space for the stored console_loglevel\n", __func__);
	kfree(state->data);
}

static int pre_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	return allocate_loglevel_state();
}

static void post_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	fix_console_loglevel();
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	restore_console_loglevel();
}

static void post_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	free_loglevel_state();
}

static struct klp_func no_funcs[] = {
	{}
};

static struct klp_object objs[] = {
	{
		.name = NULL,	/* vmlinux */
		.funcs = no_funcs,
		.callbacks = {
			.pre_patch = pre_patch_callback,
			.post_patch = post_patch_callback,
			.pre_unpatch = pre_unpatch_callback,
			.post_unpatch = post_unpatch_callback,
		},
	},
	{}
};

static struct klp_state states[] = {
	{
		.id = CONSOLE_LOGLEVEL_STATE,
		.version = CONSOLE_LOGLEVEL_STATE_VERSION,
	},
	{}
};

static struct klp_patch patch = {
	.objs = objs,
	.states = states,
	.replace = true,
};

static int test_klp_state_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_state_exit(void)
{
}

module_init(test_klp_state_init);
module_exit(test_klp_state_exit);
MODULE_LICENSE("GPL");
__MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: system state modification");
