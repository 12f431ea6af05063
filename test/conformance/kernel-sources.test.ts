// SPDX-License-Identifier: GPL-2.0-or-later
// The fetch of Debian's linux-source packages fails loudly, naming what is missing, and the
// Kbuild reading of their Makefiles finds every module.
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { kernelSources, KernelSourcesError, objM, type KernelVersion } from '../../src/lab/kernel-sources.ts';
import { findModule, ModuleNotFoundError } from '../../src/lab/modprobe.ts';

describe('kernel sources', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = { ...env };
  });

  it('a fetch without apt-get fails with a message saying so', () => {
    const bin = mkdtempSync(join(tmpdir(), 'klp-bin-'));
    for (const tool of ['bash', 'mkdir', 'dirname', 'cat'])
      symlinkSync(execFileSync('which', [tool], { encoding: 'utf8' }).trim(), join(bin, tool));
    process.env.PATH = bin;
    process.env.KLP_LAB_CACHE = mkdtempSync(join(tmpdir(), 'klp-cache-'));
    expect(() => kernelSources('6.1')).toThrow(KernelSourcesError);
    expect(() => kernelSources('6.1')).toThrow(/fetching Debian's linux-source-6\.1 failed:\nkernel-sources: apt-get not found/);
  });

  it('an unknown version is refused by name', () => {
    expect(() => kernelSources('6.3' as KernelVersion)).toThrow(/unknown kernel version '6\.3': the lab knows 6\.1, 6\.12/);
  });

  it('reads obj-m and obj-$(CONFIG_...) lists with continuation lines, as Kbuild does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'klp-mk-'));
    const mk = join(dir, 'Makefile');
    writeFileSync(mk, 'obj-$(CONFIG_TEST_LIVEPATCH) += b.o \\\n\t\ta.o\nobj-m := c.o\nfoo-y += x.o\nmodules:\n\t$(MAKE) -C $(KDIR)\n');
    expect(objM(mk)).toEqual(['a', 'b', 'c']);
  });
});

describe("modprobe's search path", () => {
  it('takes the first folder holding NAME.ko or NAME.o, and names every folder when none does', () => {
    const a = mkdtempSync(join(tmpdir(), 'klp-a-'));
    const b = mkdtempSync(join(tmpdir(), 'klp-b-'));
    writeFileSync(join(b, 'm.ko'), '');
    writeFileSync(join(b, 'n.o'), '');
    writeFileSync(join(a, 'n.o'), '');
    expect(findModule('m', [a, b])).toBe(join(b, 'm.ko'));
    expect(findModule('n', [a, b])).toBe(join(a, 'n.o'));
    expect(() => findModule('x', [a, b])).toThrow(ModuleNotFoundError);
    expect(() => findModule('x', [a, b])).toThrow(`modprobe: FATAL: Module x not found in directory ${a}:${b}`);
  });
});
