// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bad patches and bad requests get the kernel's error and change nothing: no code byte of the
 * kernel (no ftrace site written), no byte of the memory the host manages for modules and
 * livepatch structures. Where nothing runs in the guest (a relocation that does not fit),
 * not one byte of guest RAM changes. Also old_sympos picking one of two same-named statics,
 * and ftrace refusing the handler (another ip-modifying ops on the function: -EBUSY).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/selftest.ts';
import { useLab } from '../helpers.ts';
import { kbuild, patchableState, scratch } from '../modules/helpers.ts';
import { RelocationOverflowError } from '../../src/elf/module.ts';
import { LivepatchError } from '../../src/livepatch/core.ts';
import { FtraceOps, ftraceSetFilterIp, registerFtraceFunction, unregisterFtraceFunction } from '../../src/ftrace/index.ts';
import { KERN_ERR } from '../../src/livepatch/log.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });

/** The kernel's text and the host-managed region: what a livepatch operation may write. */
/** The level of the kernel log line `text` since the test started (the first such line). */
function levelOf(lab: Lab, text: string): number | undefined {
  return lab.k.log.events.find((e) => e.type === 'printk' && e.text === text)?.a;
}

/** Another tracer that modifies the ip of `func` (a kprobe with a post handler, say). */
function ipmodifyOps(lab: Lab, func: bigint): FtraceOps {
  const ops = new FtraceOps({ func: 'ftrace_test_handler', ipmodify: true });
  ftraceSetFilterIp(lab.ftrace, ops, func);
  registerFtraceFunction(lab.ftrace, ops);
  return ops;
}

describe('bad livepatch input', () => {
  it('unknown function: -EINVAL, nothing patched', async () => {
    const lab = await boot();
    const before = patchableState(lab);
    const err = lab.loadFailingMod('test_klp_bad_unknown');
    expect(err.message).toMatch(/returned -22/);
    expect(patchableState(lab)).toBe(before);
    expect(lab.lp.patches).toEqual([]);
    // with a sympos too: there is no position to speak of when there is no such symbol
    lab.loadFailingMod('test_klp_bad_unknown', { sympos: '1' });
    expect(patchableState(lab)).toBe(before);
    lab.checkResult([
      '% modprobe test_klp_bad_unknown',
      "livepatch: symbol 'lab_no_such_function' not found in symbol table",
      "modprobe: ERROR: could not insert 'test_klp_bad_unknown': Invalid argument",
      '% modprobe test_klp_bad_unknown sympos=1',
      "livepatch: symbol 'lab_no_such_function' not found in symbol table",
      "modprobe: ERROR: could not insert 'test_klp_bad_unknown': Invalid argument",
    ]);
  });

  it('a module not marked as a livepatch: -EINVAL', async () => {
    const lab = await boot();
    const before = patchableState(lab);
    lab.loadFailingMod('test_klp_bad_unmarked');
    expect(patchableState(lab)).toBe(before);
    lab.checkResult([
      '% modprobe test_klp_bad_unmarked',
      'livepatch: module test_klp_bad_unmarked is not marked as a livepatch module',
      "modprobe: ERROR: could not insert 'test_klp_bad_unmarked': Invalid argument",
    ]);
  });

  it('a patch that does not name its module (.mod = THIS_MODULE): -EINVAL', async () => {
    const { dir, done } = scratch();
    try {
      const src = `#include <linux/module.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

static int nomod_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "nomod\\n");
	return 0;
}

static struct klp_func funcs[] = { { .old_name = "cmdline_proc_show", .new_func = nomod_cmdline_proc_show }, {} };
static struct klp_object objs[] = { { .funcs = funcs }, {} };
static struct klp_patch patch = { .objs = objs };

static int nomod_init(void)
{
	return klp_enable_patch(&patch);
}

module_init(nomod_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
`;
      expect(kbuild(dir, { 'klp_nomod.c': src, Kbuild: 'obj-m := klp_nomod.o\n' })).toEqual({ status: 0, output: '' });
      const lab = await boot();
      const before = patchableState(lab);
      const err = lab.loadFailingMod(`${dir}/klp_nomod.ko`);
      expect(err.message).toMatch(/returned -22/);
      expect(patchableState(lab)).toBe(before);
      expect(lab.lp.patches).toEqual([]);
      expect(lab.cat('cmdline_proc_show')).not.toContain('nomod');
    } finally {
      done();
    }
  });

  it('ambiguous name without sympos, a sympos past the end, and the right one', async () => {
    const lab = await boot();
    const uptime = lab.cat('uptime_proc_show');
    const meminfo = lab.cat('meminfo_proc_show');
    expect(uptime).toMatch(/^uptime \d+\.\d\d\n$/);
    const before = patchableState(lab);
    lab.loadFailingMod('test_klp_sympos');
    lab.loadFailingMod('test_klp_sympos', { sympos: '3' });
    expect(patchableState(lab)).toBe(before);
    // time.c's format_value is the second in kallsyms order
    lab.loadLp('test_klp_sympos', { sympos: '2' });
    expect(lab.cat('uptime_proc_show')).toMatch(/^uptime \d+ \(test_klp_sympos\)\n$/);
    expect(lab.cat('meminfo_proc_show')).toBe(meminfo);
    expect(lab.lp.sysfsTree()).toContain('/sys/kernel/livepatch/test_klp_sympos/vmlinux/format_value,2/');
    lab.checkResult([
      '% modprobe test_klp_sympos',
      // the kernel prints obj->name as is: NULL for vmlinux
      "livepatch: unresolvable ambiguity for symbol 'format_value' in object '(null)'",
      "modprobe: ERROR: could not insert 'test_klp_sympos': Invalid argument",
      '% modprobe test_klp_sympos sympos=3',
      "livepatch: symbol position 3 for symbol 'format_value' in object 'vmlinux' not found",
      "modprobe: ERROR: could not insert 'test_klp_sympos': Invalid argument",
      '% modprobe test_klp_sympos sympos=2',
      "livepatch: enabling patch 'test_klp_sympos'",
      "livepatch: 'test_klp_sympos': initializing patching transition",
      "livepatch: 'test_klp_sympos': starting patching transition",
      "livepatch: 'test_klp_sympos': completing patching transition",
      "livepatch: 'test_klp_sympos': patching complete",
    ]);
  });

  it('relocation overflow: refused before any guest byte changes', async () => {
    const lab = await boot();
    const ram = createHash('sha256').update(lab.k.mem.buffer).digest('hex');
    const err = lab.loadFailingMod('test_klp_bad_reloc');
    expect(err).toBeInstanceOf(RelocationOverflowError);
    expect(err.message).toMatch(/test_klp_bad_reloc\.ko.*R_X86_64_32.*cmdline_proc_show.*does not fit/);
    expect(createHash('sha256').update(lab.k.mem.buffer).digest('hex')).toBe(ram);
    expect(lab.logSinceStart()).toContain("modprobe: ERROR: could not insert 'test_klp_bad_reloc': Exec format error");
  });

  it('a patch while another is in transition: -EBUSY; force without a transition: -EINVAL', async () => {
    const lab = await boot();
    lab.loadMod('test_klp_callbacks_busy', { block_transition: 'Y' });
    // force with nothing in transition
    lab.loadLp('test_klp_livepatch');
    let before = patchableState(lab);
    expect(() => lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_livepatch/force', '1')).toThrow(
      expect.objectContaining({ name: 'LivepatchError', errno: 22 }),
    );
    expect(patchableState(lab)).toBe(before);
    // the demo patch stalls on busymod_work_func; the next patch is refused meanwhile
    lab.loadLpNowait('test_klp_callbacks_demo');
    lab.k.runFor(200);
    expect(lab.lp.transitionPatch?.name).toBe('test_klp_callbacks_demo');
    before = patchableState(lab);
    const err = lab.loadFailingMod('test_klp_atomic_replace');
    expect(err.message).toMatch(/returned -16/);
    expect(patchableState(lab)).toBe(before);
    expect(lab.logSinceStart()).toContain("modprobe: ERROR: could not insert 'test_klp_atomic_replace': Device or resource busy");
    // and a disable of the other patch too
    expect(() => lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_livepatch/enabled', '0')).toThrow(LivepatchError);
    expect(patchableState(lab)).toBe(before);
  });

  it("ftrace refusing the handler: the kernel's message at KERN_ERR, -EBUSY, nothing patched", async () => {
    const lab = await boot();
    const cmdline = lab.cat('cmdline_proc_show');
    const other = ipmodifyOps(lab, lab.k.sym('cmdline_proc_show'));
    lab.startTest();
    const before = patchableState(lab);
    const err = lab.loadFailingMod('test_klp_livepatch');
    expect(err.message).toMatch(/returned -16/);
    expect(patchableState(lab)).toBe(before);
    expect(lab.lp.patches).toEqual([]);
    const msg = "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)";
    lab.checkResult([
      '% modprobe test_klp_livepatch',
      "livepatch: enabling patch 'test_klp_livepatch'",
      "livepatch: 'test_klp_livepatch': initializing patching transition",
      msg,
      "livepatch: failed to patch object 'vmlinux'",
      "livepatch: failed to enable patch 'test_klp_livepatch'",
      "livepatch: 'test_klp_livepatch': canceling patching transition, going to unpatch",
      "livepatch: 'test_klp_livepatch': completing unpatching transition",
      "livepatch: 'test_klp_livepatch': unpatching complete",
      "modprobe: ERROR: could not insert 'test_klp_livepatch': Device or resource busy",
    ]);
    expect(levelOf(lab, msg)).toBe(KERN_ERR);
    // once the other tracer is gone, the patch loads
    unregisterFtraceFunction(lab.ftrace, other);
    lab.loadLp('test_klp_livepatch');
    expect(lab.cat('cmdline_proc_show')).not.toBe(cmdline);
  });

  it('a loading module whose patch ftrace refuses: its post_unpatch runs, the load fails with -EBUSY', async () => {
    const lab = await boot();
    const LP = 'test_klp_callbacks_demo';
    const BUSY = 'test_klp_callbacks_busy';
    const COMING = '[MODULE_STATE_COMING] Full formed, running module_init';
    lab.loadLp(LP);
    // another tracer takes busymod_work_func as the module comes, just before livepatch does
    let other: FtraceOps | undefined;
    lab.modules.notifier({
      coming: (m) => void (m.name === BUSY && (other = ipmodifyOps(lab, m.findSymbol('busymod_work_func')))),
      going: (m) => void (m.name === BUSY && other && unregisterFtraceFunction(lab.ftrace, other)),
      priority: 50,
    });
    lab.startTest();
    const err = lab.loadFailingMod(BUSY);
    expect(err.message).toMatch(/-16/);
    expect(lab.modules.isLoaded(BUSY)).toBe(false);
    lab.checkResult([
      `% modprobe ${BUSY}`,
      `livepatch: applying patch '${LP}' to loading module '${BUSY}'`,
      `${LP}: pre_patch_callback: ${BUSY} -> ${COMING}`,
      "livepatch: failed to register ftrace handler for function 'busymod_work_func' (-16)",
      `livepatch: failed to apply patch '${LP}' to module '${BUSY}' (-16)`,
      `${LP}: post_unpatch_callback: ${BUSY} -> ${COMING}`,
      `livepatch: patch '${LP}' failed for module '${BUSY}', refusing to load module '${BUSY}'`,
      `modprobe: ERROR: could not insert '${BUSY}': Device or resource busy`,
    ]);
    const obj = lab.lp.patch(LP).objs.find((o) => o.name === BUSY)!;
    expect([obj.loaded, obj.patched, obj.postUnpatchEnabled]).toEqual([false, false, false]);
  });

  it('a module livepatch refuses leaves no ftrace sites: the next module loads, and so does the refused one', async () => {
    const lab = await boot();
    const LP = 'test_klp_callbacks_demo';
    const MOD = 'test_klp_callbacks_mod';
    lab.loadLp(LP);
    lab.setParam(LP, 'pre_patch_ret', '-19');
    expect(lab.loadFailingMod(MOD).message).toMatch(/-19/);
    expect(lab.ftrace.sites.ownerSites(MOD)).toEqual([]);
    // the next module may be placed where the refused one was
    lab.loadMod('test_klp_mod_target');
    lab.setParam(LP, 'pre_patch_ret', '0');
    lab.loadMod(MOD);
    expect(lab.ftrace.sites.ownerSites(MOD).length).toBeGreaterThan(0);
    lab.unloadMod(MOD);
    lab.unloadMod('test_klp_mod_target');
    lab.disableLp(LP);
    lab.unloadLp(LP);
  });
});
