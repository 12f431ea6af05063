// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Livepatch and kernel.ftrace_enabled on real firmware, through the lab's
 * /proc/sys/kernel/ftrace_enabled as test-ftrace.sh uses it: a patch load fails with -EBUSY
 * while it is 0 (the kernel's lines, nothing applied), the sysctl cannot go to 0 while a patch
 * is registered, and once the patch is disabled and removed, 0 really stops the sites: a
 * function redirected by another ops runs its own code again, as what it prints shows.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { KernelFiles, KernelFsError, type Lab } from '../../src/lab/index.ts';
import { ModuleError } from '../../src/elf/index.ts';
import { FENTRY_NOP, ftraceSiteEnabled, unregisterFtraceFunction } from '../../src/ftrace/index.ts';
import { traceWithTestHandler } from '../ftrace/helpers.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });
const LP = 'test_klp_livepatch';
const SYSCTL = '/proc/sys/kernel/ftrace_enabled';

function writeRefused(fs: KernelFiles, data: string): string {
  try {
    fs.write(SYSCTL, data);
  } catch (e) {
    if (e instanceof KernelFsError) return e.errno;
    throw e;
  }
  return 'accepted';
}

function livepatchLines(lab: Lab): string[] {
  return lab.logSinceStart().filter((l) => l.includes('livepatch:'));
}

describe('livepatch and kernel.ftrace_enabled', () => {
  it('refuses a patch while 0 and 0 while a patch is registered', async () => {
    const lab = await boot();
    const fs = new KernelFiles(lab);
    const original = lab.cat('cmdline_proc_show');
    const site = lab.k.sym('cmdline_proc_show');
    expect(fs.stat(SYSCTL)).toEqual({ kind: 'file', mode: 0o644, size: 0 });
    expect(fs.read(SYSCTL)).toBe('1\n');

    fs.write(SYSCTL, '0\n');
    expect(fs.read(SYSCTL)).toBe('0\n');
    const before = lab.hostMemory();
    let err: unknown;
    try {
      lab.loadMod(LP);
    } catch (e) {
      err = e instanceof AggregateError ? e.errors[0] : e;
    }
    expect(err).toBeInstanceOf(ModuleError);
    expect((err as ModuleError).code).toBe(-16);
    expect(livepatchLines(lab)).toEqual([
      `livepatch: enabling patch '${LP}'`,
      `livepatch: '${LP}': initializing patching transition`,
      "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)",
      "livepatch: failed to patch object 'vmlinux'",
      `livepatch: failed to enable patch '${LP}'`,
      `livepatch: '${LP}': canceling patching transition, going to unpatch`,
      `livepatch: '${LP}': completing unpatching transition`,
      `livepatch: '${LP}': unpatching complete`,
    ]);
    lab.k.runFor(50);
    lab.checkHostMemory(before, 'the refused load');
    expect(lab.modules.list().map((m) => m.name)).not.toContain(LP);
    expect(lab.lp.sysfsTree()).toEqual([]);
    expect([...lab.k.mem.bytes(site, 5)]).toEqual([...FENTRY_NOP]);
    expect(lab.cat('cmdline_proc_show')).toBe(original);

    fs.write(SYSCTL, '1');
    lab.loadLp(LP);
    expect(lab.cat('cmdline_proc_show')).toBe(`${LP}: this has been live patched\n`);
    expect(writeRefused(fs, '0')).toBe('EBUSY');
    expect(fs.read(SYSCTL)).toBe('1\n');
    expect(ftraceSiteEnabled(lab.ftrace, site)).toBe(true);
    expect(lab.cat('cmdline_proc_show')).toBe(`${LP}: this has been live patched\n`);
    expect(writeRefused(fs, 'zero')).toBe('EINVAL');

    lab.disableLp(LP);
    lab.unloadLp(LP);
    fs.write(SYSCTL, '0');
    expect(fs.read(SYSCTL)).toBe('0\n');
    expect(lab.cat('cmdline_proc_show')).toBe(original);
  });

  it('after the patch is gone, 0 really stops the sites calling out, 1 brings them back', async () => {
    // what runs shows it: an ops (not permanent) sends cmdline_proc_show's calls to
    // meminfo_proc_show, as a patch would, and the sysctl turns that off and on
    const lab = await boot();
    const fs = new KernelFiles(lab);
    const cmdline = lab.cat('cmdline_proc_show');
    const meminfo = lab.cat('meminfo_proc_show');
    lab.loadLp(LP);
    expect(writeRefused(fs, '0')).toBe('EBUSY');
    lab.disableLp(LP);
    lab.unloadLp(LP);
    const ops = traceWithTestHandler(lab.ftrace, 'cmdline_proc_show', { ipmodify: true, privateData: lab.k.sym('meminfo_proc_show') });
    expect(lab.cat('cmdline_proc_show')).toBe(meminfo);
    fs.write(SYSCTL, '0');
    expect(lab.cat('cmdline_proc_show')).toBe(cmdline);
    lab.k.runFor(20);
    expect(lab.cat('cmdline_proc_show')).toBe(cmdline);
    fs.write(SYSCTL, '1');
    expect(lab.cat('cmdline_proc_show')).toBe(meminfo);
    unregisterFtraceFunction(lab.ftrace, ops);
    expect(lab.cat('cmdline_proc_show')).toBe(cmdline);
  });
});
