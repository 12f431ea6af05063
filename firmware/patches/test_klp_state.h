/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What test_klp_state and test_klp_state2 (and 3) share: a cumulative livepatch with no
 * functions whose four callbacks log themselves and call the file's own state handling --
 * allocate_loglevel_state(), fix_console_loglevel(), restore_console_loglevel(),
 * free_loglevel_state() -- and that declares the console_loglevel state at the file's
 * CONSOLE_LOGLEVEL_STATE_VERSION. Included at the end of those files.
 */
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

static struct klp_state states[] = {{
					    .id = CONSOLE_LOGLEVEL_STATE,
					    .version = CONSOLE_LOGLEVEL_STATE_VERSION,
				    },
				    {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
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
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: system state modification");
