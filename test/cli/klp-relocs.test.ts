// One's own patch with livepatch relocations, the way README's "Write your own livepatch module"
// says: written outside the project in the kernel's style, built with `make -C firmware M=DIR`
// (which runs klp-convert on the linked module's KLP_MODULE_RELOC() list) and loaded by the
// command line. It calls the second of the kernel's two static format_value()s; with sympos 0
// the enable fails with the kernel's line.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, ROOT } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'klp-lab-relocs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const source = (sympos: number) => `
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

extern void format_value(struct seq_file *m, const char *name, unsigned long v);
KLP_MODULE_RELOC(vmlinux) relocs[] = {
	KLP_SYMPOS(format_value, ${sympos}),
};

static int my_cmdline_proc_show(struct seq_file *m, void *v)
{
	format_value(m, "uptime as time.c prints it", 4217);
	return 0;
}

static struct klp_func funcs[] = { { .old_name = "cmdline_proc_show", .new_func = my_cmdline_proc_show }, {} };
static struct klp_object objs[] = { { .funcs = funcs }, {} };
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

static int my_klp_init(void)
{
	return klp_enable_patch(&patch);
}

static void my_klp_exit(void)
{
}

module_init(my_klp_init);
module_exit(my_klp_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
`;

function build(sympos: number): string {
  const mdir = join(dir, `pos${sympos}`);
  mkdirSync(mdir, { recursive: true });
  writeFileSync(join(mdir, 'my_klp.c'), source(sympos));
  writeFileSync(join(mdir, 'Kbuild'), 'obj-m := my_klp.o\n');
  const out = join(mdir, 'my_klp.ko');
  const log = execFileSync('make', ['-s', '-C', `${ROOT}firmware`, `M=${mdir}`], { encoding: 'utf8' });
  expect(log).toContain(`KLP-CONVERT ${out}`);
  return out;
}

describe('one own patch with livepatch relocations', () => {
  it('builds through klp-convert and calls a static function of the kernel', async () => {
    const r = await cli(['livepatch', '--cpus', '2', `load:${build(2)}`, 'cat:cmdline_proc_show']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\] % cat cmdline_proc_show\n\[ *[\d.]+\] uptime as time.c prints it 42\.17\n/);
  });

  it('sympos 0 for a name the kernel has twice: the kernel error, the load refused', async () => {
    const r = await cli(['livepatch', '--cpus', '2', `load:${build(0)}`, 'cat:cmdline_proc_show']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("livepatch: unresolvable ambiguity for symbol 'format_value' in object '(null)'");
    expect(r.stderr).toMatch(/step 'load:.*my_klp\.ko' failed: .* returned -22: module unloaded again \(-EINVAL\)/);
  });
});
