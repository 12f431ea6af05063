// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A cumulative (replace) livepatch that changes a system state -- it raises console_loglevel
 * -- and declares it as klp_state {1, version 1}: the callbacks save the old level in space
 * the state's data points at, set the new one after the transition, and put it back when the
 * patch goes. Version 1 knows no predecessor: it cannot take over a change made by another
 * patch, and a newer version is not compatible with it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/errno.h>

#define CONSOLE_LOGLEVEL_STATE	       1
#define CONSOLE_LOGLEVEL_STATE_VERSION 1

static struct klp_patch patch;

static int allocate_loglevel_state(void)
{
	struct klp_state *state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);

	if (!state)
		return -EINVAL;
	state->data = kzalloc(sizeof(console_loglevel), GFP_KERNEL);
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

#include "test_klp_state.h"
