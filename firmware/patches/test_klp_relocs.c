// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A livepatch that uses what no module can link against, through livepatch relocations
 * (klp-convert turns the KLP_MODULE_RELOC() lists into .klp.rela.* sections):
 *   - vmlinux: workload_names (a static array of proc.c) and format_value, a static function
 *     the kernel has twice (proc.c's is the first, sympos 1), to replace lab_cmdline_show();
 *   - test_klp_relocs_mod: its static counter relocs_mod_calls and static helper
 *     relocs_mod_secret(), to replace test_klp_relocs_mod_show() whenever the module is there.
 */
#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/klp_convert.h>
#include <lab/printk.h>
#include <lab/boot.h>

extern const char *const workload_names[];
extern int format_value(char *buf, long size, const char *name, unsigned long v);
extern int relocs_mod_calls;
extern int relocs_mod_secret(int calls);

KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(workload_names, 0),
	KLP_SYMPOS(format_value, 1),
};

KLP_MODULE_RELOC(test_klp_relocs_mod) test_klp_relocs_mod_relocs[] = {
	KLP_SYMPOS(relocs_mod_calls, 0),
	KLP_SYMPOS(relocs_mod_secret, 0),
};

static int livepatch_cmdline_show(char *buf, long size)
{
	int n = snprintf(buf, size, "%s: workload %s, ", KBUILD_MODNAME,
			 workload_names[boot_params.workload]);

	return n + format_value(buf + n, size - n, "format_value", 1);
}

static int livepatch_relocs_mod_show(char *buf, long size)
{
	relocs_mod_calls++;
	return snprintf(buf, size, "%s: read %d, secret %d\n", KBUILD_MODNAME, relocs_mod_calls,
			relocs_mod_secret(relocs_mod_calls));
}

static struct klp_func vmlinux_funcs[] = {{
						  .old_name = "lab_cmdline_show",
						  .new_func = livepatch_cmdline_show,
					  },
					  {}};

static struct klp_func mod_funcs[] = {{
					      .old_name = "test_klp_relocs_mod_show",
					      .new_func = livepatch_relocs_mod_show,
				      },
				      {}};

static struct klp_object objs[] = {{
					   .funcs = vmlinux_funcs,
				   },
				   {
					   .name = "test_klp_relocs_mod",
					   .funcs = mod_funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.objs = objs,
};

static int test_klp_relocs_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_relocs_exit(void)
{
}

module_init(test_klp_relocs_init);
module_exit(test_klp_relocs_exit);
MODULE_LICENSE("GPL");
__MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: livepatch relocations to static symbols");
