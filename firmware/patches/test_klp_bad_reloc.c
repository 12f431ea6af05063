// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bad input: a livepatch whose data holds a kernel address in 32 bits (an R_X86_64_32
 * relocation against cmdline_proc_show, at 0xffffffff8...). It does not fit: the loader must
 * refuse the object before a single guest byte changes.
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

int cmdline_proc_show(struct seq_file *m, void *v);

static int new_show(struct seq_file *m, void *v)
{
	return cmdline_proc_show(m, v);
}

__asm__(".pushsection .rodata.lab_bad_reloc, \"a\"\n"
	"lab_bad_reloc_table:\n"
	"	.long cmdline_proc_show\n"
	".popsection\n");

static struct klp_func funcs[] = {{
					  .old_name = "cmdline_proc_show",
					  .new_func = new_show,
				  },
				  {}};

static struct klp_object objs[] = {{
					   .funcs = funcs,
				   },
				   {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_bad_reloc_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_bad_reloc_exit(void)
{
}

module_init(test_klp_bad_reloc_init);
module_exit(test_klp_bad_reloc_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
