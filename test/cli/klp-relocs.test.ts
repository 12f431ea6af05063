// SPDX-License-Identifier: GPL-2.0-or-later
// One's own patch with livepatch relocations, the way README's "Write your own patch" says:
// written outside the project, built with `make -C firmware patch` (which runs klp-convert on
// its KLP_MODULE_RELOC() list) and loaded by the command line. It calls the second of the
// kernel's two static format_value()s; with sympos 0 the enable fails with the kernel's line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, ROOT } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'klp-lab-relocs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const source = (sympos: number) => `
#include <lab/module.h>
#include <lab/livepatch.h>
#include <lab/klp_convert.h>

extern int format_value(char *buf, long size, const char *name, unsigned long v);
KLP_MODULE_RELOC(vmlinux) relocs[] = {
	KLP_SYMPOS(format_value, ${sympos}),
};

static int my_cmdline_show(char *buf, long size)
{
	return format_value(buf, size, "uptime as time.c prints it", 4217);
}

static struct klp_func funcs[] = { { .old_name = "lab_cmdline_show", .new_func = my_cmdline_show }, {} };
static struct klp_object objs[] = { { .funcs = funcs }, {} };
static struct klp_patch patch = { .objs = objs };

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
__MODULE_INFO(livepatch, "Y");
`;

function build(sympos: number): string {
  const src = join(dir, `my_klp_${sympos}.c`);
  const out = join(dir, `pos${sympos}`, 'my_klp.o');
  execFileSync('mkdir', ['-p', join(dir, `pos${sympos}`)]);
  writeFileSync(src, source(sympos));
  const log = execFileSync('make', ['-s', '-C', `${ROOT}firmware`, 'patch', `SRC=${src}`, `OUT=${out}`], { encoding: 'utf8' });
  expect(log).toContain(`KLP-CONVERT ${out}`);
  return out;
}

describe('one own patch with livepatch relocations', () => {
  it('builds through klp-convert and calls a static function of the kernel', async () => {
    const r = await cli(['livepatch', '--cpus', '2', `load:${build(2)}`, 'cat:lab_cmdline_show']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\] % cat lab_cmdline_show\n\[ *[\d.]+\] uptime as time.c prints it 42\.17\n/);
  });

  it('sympos 0 for a name the kernel has twice: the kernel error, the load refused', async () => {
    const r = await cli(['livepatch', '--cpus', '2', `load:${build(0)}`, 'cat:lab_cmdline_show']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("livepatch: unresolvable ambiguity for symbol 'format_value' in object '(null)'");
    expect(r.stderr).toMatch(/step 'load:.*my_klp\.o' failed: .* returned -22: module unloaded again \(-EINVAL\)/);
  });
});
