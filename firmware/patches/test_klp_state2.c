// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Version 2 of the console_loglevel state: a cumulative livepatch that can take over the
 * change an installed patch made (it finds that patch's state with klp_get_prev_state() while
 * the older patch is still installed, up to and including its post_patch callback -- 7e35e4eb)
 * instead of making it again, and hands it back when it is disabled over an older patch.
 * test_klp_state3 is this same code under another name.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/errno.h>

#define CONSOLE_LOGLEVEL_STATE	       1
#define CONSOLE_LOGLEVEL_STATE_VERSION 2

static struct klp_patch patch;

static int allocate_loglevel_state(void)
{
	struct klp_state *state;

	if (klp_get_prev_state(CONSOLE_LOGLEVEL_STATE)) {
		pr_info("%s: space to store console_loglevel already allocated\n", __func__);
		return 0;
	}
	state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
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
	struct klp_state *prev;

	if (!state)
		return;
	prev = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
	if (prev) {
		pr_info("%s: taking over the console_loglevel change\n", __func__);
		state->data = prev->data;
		return;
	}
	pr_info("%s: fixing console_loglevel\n", __func__);
	*(int *)state->data = console_loglevel;
	console_loglevel = CONSOLE_LOGLEVEL_MOTORMOUTH;
}

static void restore_console_loglevel(void)
{
	struct klp_state *state;

	if (klp_get_prev_state(CONSOLE_LOGLEVEL_STATE)) {
		pr_info("%s: passing the console_loglevel change back to the old livepatch\n",
			__func__);
		return;
	}
	state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
	if (!state)
		return;
	pr_info("%s: restoring console_loglevel\n", __func__);
	console_loglevel = *(int *)state->data;
}

static void free_loglevel_state(void)
{
	struct klp_state *state;

	if (klp_get_prev_state(CONSOLE_LOGLEVEL_STATE)) {
		pr_info("%s: keeping space to store console_loglevel\n", __func__);
		return;
	}
	state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
	if (!state)
		return;
	pr_info("%s: freeing space for the stored console_loglevel\n", __func__);
	kfree(state->data);
}

#include "test_klp_state.h"
