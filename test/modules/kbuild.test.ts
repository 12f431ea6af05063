// SPDX-License-Identifier: GPL-2.0-or-later
// Modules of one's own, written against the kernel's headers and built as Kbuild builds an
// out-of-tree module (make -C firmware M=DIR) in a directory outside the project: what the
// build makes, that the loader takes the module's struct module from .gnu.linkonce.this_module,
// and that bad input (a warning, no obj-m, a .ko without its struct module) is refused clearly.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ElfFile, ModuleFormatError } from '../../src/elf/index.ts';
import { withLab } from '../helpers.ts';
import { cli } from '../cli/helpers.ts';
import { kbuild, scratch, thrown, withModules } from './helpers.ts';

/** A module of two files (kb_pair-objs) and one of one file with a parameter, in kernel style. */
const PAIR = {
  Kbuild: 'obj-m += kb_pair.o kb_param.o\nkb_pair-objs := kb_main.o kb_helper.o\n',
  'kb_helper.h': 'int kb_twice(int x);\n',
  'kb_helper.c': '#include "kb_helper.h"\n\nint kb_twice(int x)\n{\n\treturn 2 * x;\n}\n',
  'kb_main.c': `#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include "kb_helper.h"

static int __init kb_pair_init(void)
{
	pr_info("%s says %d from %s\\n", THIS_MODULE->name, kb_twice(21), KBUILD_BASENAME);
	return 0;
}

static void __exit kb_pair_exit(void)
{
	pr_info("%s\\n", __func__);
}

module_init(kb_pair_init);
module_exit(kb_pair_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("two files, one module");
`,
  'kb_param.c': `#include <linux/module.h>

static int answer = 1;
module_param(answer, int, 0644);
MODULE_PARM_DESC(answer, "the answer (default 1)");

static int other = 3;
module_param(other, int, S_IRUGO | S_IWUSR);

static int kb_param_init(void)
{
	pr_info("kb_param: answer=%d\\n", answer);
	return 0;
}

module_init(kb_param_init);
MODULE_LICENSE("GPL");
`,
};

/**
 * A livepatch of cmdline_proc_show in kernel style, with a parameter, pr_info and delayed
 * work, as a kpatch-style module would use them.
 */
const LIVEPATCH = {
  Makefile: 'ifneq ($(KERNELRELEASE),)\nobj-$(CONFIG_SAMPLE_LIVEPATCH) += kb_lp.o\nelse\nall:\n\t$(MAKE) -C /nowhere M=$(PWD)\nendif\n',
  'kb_lp.c': `#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include <linux/workqueue.h>

static int tag = 7;
module_param(tag, int, 0644);
MODULE_PARM_DESC(tag, "what the new /proc/cmdline says (default 7)");

static void kb_lp_later(struct work_struct *work)
{
	pr_info("delayed work ran, tag %d\\n", tag);
}
static DECLARE_DELAYED_WORK(later, kb_lp_later);

static int kb_lp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s: tag %d\\n", THIS_MODULE->name, tag);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = kb_lp_cmdline_proc_show, },
	{ }
};

static struct klp_object objs[] = {
	{ .funcs = funcs, },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int kb_lp_init(void)
{
	pr_info("tag %d\\n", tag);
	schedule_delayed_work(&later, 5);
	return klp_enable_patch(&patch);
}

static void kb_lp_exit(void)
{
	cancel_delayed_work_sync(&later);
}

module_init(kb_lp_init);
module_exit(kb_lp_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
`,
};

/** Every header of include/linux, then a little of each: spin_lock_irqsave(lock, flags), IS_ENABLED(), ... */
const ALL_HEADERS = `#include <linux/spinlock.h>
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/delay.h>
#include <linux/seq_file.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/list.h>
#include <linux/printk.h>
#include <linux/init.h>
#include <linux/export.h>
#include <linux/wait.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/bug.h>
#include <linux/jiffies.h>
#include <linux/stat.h>

static DEFINE_SPINLOCK(l);
static int v;

static int __init allhdr_init(void)
{
	unsigned long flags;
	void *p = kzalloc(16, GFP_KERNEL);

	spin_lock_irqsave(&l, flags);
	v = IS_ENABLED(CONFIG_LIVEPATCH) + IS_MODULE(CONFIG_TEST_LIVEPATCH) + IS_ENABLED(CONFIG_NOPE);
	spin_unlock_irqrestore(&l, flags);
	kfree(p);
	if (!time_after(jiffies + msecs_to_jiffies(10), jiffies) || S_IRUGO != 0444)
		v = -1;
	pr_info("v=%d cpu=%d %s\\n", v, smp_processor_id(), __stringify(NR_CPUS));
	msleep(1);
	return 0;
}
module_init(allhdr_init);
MODULE_LICENSE("GPL");
`;

describe('make -C firmware M=DIR', () => {
  it('builds a livepatch module of one’s own that the library and the CLI load from its path', async () => {
    const { dir, done } = scratch();
    try {
      const r = kbuild(dir, LIVEPATCH);
      expect(r.output).toBe('');
      const ko = join(dir, 'kb_lp.ko');
      await withLab({ cpus: 2 }, (lab) => {
        const before = lab.cat('cmdline_proc_show');
        lab.startTest();
        lab.loadLp(ko, { tag: '42' });
        expect(lab.cat('cmdline_proc_show')).toBe('kb_lp: tag 42\n');
        expect(lab.sysfsRead('/sys/module/kb_lp/parameters/tag')).toBe('42');
        lab.k.runFor(100);
        const lines = lab.logSinceStart();
        expect(lines.slice(0, 2)).toEqual([`% insmod ${ko} tag=42`, 'kb_lp: tag 42']);
        expect(lines).toContain('kb_lp: delayed work ran, tag 42');
        lab.disableLp('kb_lp');
        lab.unloadLp('kb_lp');
        expect(lab.cat('cmdline_proc_show')).toBe(before);
      });
      const run = await cli(['livepatch', '--cpus', '2', `load:${ko}`, 'cat:cmdline_proc_show'], { cwd: dir });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/\] % cat cmdline_proc_show\n\[ *[\d.]+\] kb_lp: tag 7\n/);
    } finally {
      done();
    }
  });

  it('builds every obj-m module into DIR/NAME.ko, with its struct module, ORC and fentry sites', () => {
    const { dir, done } = scratch();
    try {
      const r = kbuild(dir, PAIR);
      expect(r.output).toBe('');
      expect(r.status).toBe(0);
      for (const f of ['kb_pair.ko', 'kb_param.ko', 'kb_pair.mod.c', 'kb_main.o', 'kb_helper.o'])
        expect(existsSync(join(dir, f))).toBe(true);
      expect(readFileSync(join(dir, 'kb_pair.mod.c'), 'utf8')).toContain('.init = init_module,');
      // kb_param has no exit: its struct module has none
      expect(readFileSync(join(dir, 'kb_param.mod.c'), 'utf8')).not.toContain('cleanup_module');
      const elf = ElfFile.read(join(dir, 'kb_pair.ko'));
      const names = elf.sections.map((s) => s.name);
      for (const s of ['.gnu.linkonce.this_module', '.orc_unwind', '.orc_unwind_ip', '__mcount_loc', '.modinfo'])
        expect(names).toContain(s);

      // clean takes the outputs away, and leaves the sources
      expect(kbuild(dir, {}, 'clean').status).toBe(0);
      expect(existsSync(join(dir, 'kb_pair.ko'))).toBe(false);
      expect(existsSync(join(dir, 'kb_main.o'))).toBe(false);
      expect(existsSync(join(dir, 'kb_main.c'))).toBe(true);
    } finally {
      done();
    }
  });

  it('loads them from their path: name, init, exit and state are the module’s own struct module', async () => {
    const { dir, done } = scratch();
    try {
      expect(kbuild(dir, PAIR).status).toBe(0);
      await withModules({}, (k, ms) => {
        const seq = k.log.cursor();
        const pair = ms.load(join(dir, 'kb_pair.ko'));
        const param = ms.load(join(dir, 'kb_param.ko'), { answer: '42' });
        const said = k.log
          .since(seq)
          .filter((e) => e.type === 'printk')
          .map((e) => e.text);
        expect(said).toEqual(['kb_pair: kb_pair says 42 from kb_main', 'kb_param: answer=42']);

        const L = k.layout;
        const section = pair.elf.sectionsByName('.gnu.linkonce.this_module')[0];
        const st = pair.guestStruct!.address;
        expect(st).toBe(pair.placement(section));
        expect(pair.contains(st)).toBe(true);
        expect(k.mem.cstring(st + BigInt(L.offset('module', 'name')), 56)).toBe('kb_pair');
        expect(k.mem.u32(st + BigInt(L.offset('module', 'state')))).toBe(L.constant('MODULE_STATE_LIVE'));
        expect(pair.init).toBe(k.mem.u64(st + BigInt(L.offset('module', 'init'))));
        expect(pair.init).toBe(pair.findSymbol('kb_pair_init'));
        expect(pair.exit).toBe(pair.findSymbol('kb_pair_exit'));
        expect(param.exit).toBeUndefined();
        // permissions spelled with the kernel's S_I* macros are the bits they stand for
        ms.setParam('kb_param', 'other', '5');
        expect(ms.param('kb_param', 'other')).toBe('5');

        ms.unload('kb_pair');
        expect(k.log.messages().at(-1)).toMatch(/kb_pair: kb_pair_exit$/);
      });
    } finally {
      done();
    }
  });

  it('compiles every header of include/linux together, with the kernel’s spellings', async () => {
    const { dir, done } = scratch();
    try {
      const r = kbuild(dir, { Kbuild: 'obj-m := allhdr.o\n', 'allhdr.c': ALL_HEADERS });
      expect(r.output).toBe('');
      await withModules({}, (k, ms) => {
        const seq = k.log.cursor();
        ms.load(join(dir, 'allhdr.ko'));
        // IS_ENABLED(CONFIG_LIVEPATCH) (=y) + IS_MODULE(CONFIG_TEST_LIVEPATCH) (=m) + an unset one
        expect(
          k.log
            .since(seq)
            .filter((e) => e.type === 'printk')
            .map((e) => e.text),
        ).toEqual([expect.stringMatching(/^v=2 cpu=\d+ 64$/)]);
      });
    } finally {
      done();
    }
  });

  it('fails on any warning, and builds nothing', () => {
    const { dir, done } = scratch();
    try {
      const r = kbuild(dir, {
        Kbuild: 'obj-m := kb_warn.o\n',
        'kb_warn.c': '#include <linux/module.h>\n\nint kb_unprototyped(void)\n{\n\treturn 0;\n}\n\nMODULE_LICENSE("GPL");\n',
      });
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/kb_warn\.c:3:5: error: no previous prototype for .kb_unprototyped. \[-Werror=missing-prototypes\]/);
      expect(existsSync(join(dir, 'kb_warn.o'))).toBe(false);
      expect(existsSync(join(dir, 'kb_warn.ko'))).toBe(false);
    } finally {
      done();
    }
  });

  it('refuses a directory whose Kbuild lists no module, or that has no Kbuild at all', () => {
    const { dir, done } = scratch();
    try {
      const none = kbuild(dir, {});
      expect(none.status).not.toBe(0);
      expect(none.output).toContain(`${dir}: no Kbuild or Makefile says which modules to build (obj-m)`);
      const empty = kbuild(dir, { Makefile: 'obj-y += nothing.o\n' });
      expect(empty.status).not.toBe(0);
      expect(empty.output).toContain(`${dir}/Makefile: obj-m lists no module to build`);
    } finally {
      done();
    }
  });

  it('only takes the variables of a Makefile that also has targets of its own', () => {
    const { dir, done } = scratch();
    try {
      // the 6.12 selftests' Makefile: obj-m, and modules:/clean: that call the kernel's make
      const r = kbuild(dir, {
        Makefile: 'obj-m += kb_param.o\nmodules:\n\tfalse\nclean:\n\tfalse\n',
        'kb_param.c': PAIR['kb_param.c'],
      });
      expect(r.status).toBe(0);
      expect(existsSync(join(dir, 'kb_param.ko'))).toBe(true);
      expect(kbuild(dir, {}, 'clean').status).toBe(0);
      expect(existsSync(join(dir, 'kb_param.ko'))).toBe(false);
    } finally {
      done();
    }
  });

  it('refuses a .ko without .gnu.linkonce.this_module, or whose names disagree, changing no guest byte', async () => {
    const { dir, done } = scratch();
    try {
      expect(kbuild(dir, PAIR).status).toBe(0);
      const bare = join(dir, 'kb_bare.ko');
      execFileSync('objcopy', ['-R', '.gnu.linkonce.this_module', '-R', '.rela.gnu.linkonce.this_module', join(dir, 'kb_param.ko'), bare]);
      await withModules({}, (k, ms) => {
        const before = Buffer.from(k.mem.buffer);
        const e = thrown(() => ms.load(bare));
        expect(e).toBeInstanceOf(ModuleFormatError);
        expect(e.message).toBe(
          `${bare}: No module found in object: no .gnu.linkonce.this_module section (the struct module NAME.mod.c defines; build kb_bare.ko with make -C firmware M=DIR) (-ENOEXEC)`,
        );
        expect(Buffer.from(k.mem.buffer).equals(before)).toBe(true);
        expect(ms.list()).toEqual([]);

        // a .modinfo name= that is not its struct module's name
        const bytes = readFileSync(join(dir, 'kb_param.ko')).toString('latin1');
        expect(bytes.split('name=kb_param\0')).toHaveLength(2);
        const other = ElfFile.parse(Buffer.from(bytes.replace('name=kb_param\0', 'name=kb_parax\0'), 'latin1'), join(dir, 'kb_other.ko'));
        const mismatch = thrown(() => ms.load(other));
        expect(mismatch).toBeInstanceOf(ModuleFormatError);
        expect(mismatch.message).toMatch(
          /kb_other\.ko: section \[\d+\] \.gnu\.linkonce\.this_module: \.modinfo says name=kb_parax, its struct module 'kb_param' \(-ENOEXEC\)$/,
        );
        expect(Buffer.from(k.mem.buffer).equals(before)).toBe(true);
      });
    } finally {
      done();
    }
  });
});
