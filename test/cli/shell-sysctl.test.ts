// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kernel.ftrace_enabled in `klp-lab shell`: procps's own sysctl reads and writes the lab's
 * /proc/sys/kernel/ftrace_enabled with its usual texts (the busy refusal that test-ftrace.sh
 * puts in its expected log), the host's sysctl untouched; and the kernel's test-ftrace.sh of
 * 6.12 passes unmodified, run from a working copy of the cached selftest folder with the
 * kernel's test modules built for the lab.
 */
import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, ROOT } from './helpers.ts';
import { kernelTestModules } from '../../src/lab/index.ts';

const SHELL = ['shell', '--cpus', '2', '--workload', 'idle', '--pace', 'free'];
const HOST_SYSCTL = '/proc/sys/kernel/ftrace_enabled';

// the lab's file is bound over the host's, so a host kernel without the sysctl cannot show it
describe.skipIf(!existsSync(HOST_SYSCTL))('kernel.ftrace_enabled in klp-lab shell', () => {
  it("procps's sysctl reads and writes the lab's value, with its texts", async () => {
    const host = readFileSync(HOST_SYSCTL, 'utf8');
    const lp = '/sys/kernel/livepatch/test_klp_livepatch';
    const script = [
      'sysctl --values kernel.ftrace_enabled',
      'sysctl -q kernel.ftrace_enabled=0; echo "status $?"',
      'sysctl kernel.ftrace_enabled',
      `insmod ${ROOT}fixtures/test_klp_livepatch.ko 2>&1; echo "status $?"`,
      'sysctl -w kernel.ftrace_enabled=1',
      `insmod ${ROOT}fixtures/test_klp_livepatch.ko`,
      `while [ "$(cat ${lp}/transition)" != 0 ]; do sleep 0.1; done`,
      'sysctl -q kernel.ftrace_enabled=0 2>&1; echo "status $?"',
      'sysctl --values kernel.ftrace_enabled',
      'cat /proc/cmdline',
      '(echo zero > /proc/sys/kernel/ftrace_enabled) 2>&1 | sed "s/^.*: echo: //"',
      'dmesg | grep -o "livepatch: failed to register.*"',
    ].join('\n');
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        '1',
        'status 0',
        'kernel.ftrace_enabled = 0',
        `insmod: ERROR: could not insert module ${ROOT}fixtures/test_klp_livepatch.ko: Device or resource busy`,
        'status 1',
        'kernel.ftrace_enabled = 1',
        'sysctl: setting key "kernel.ftrace_enabled": Device or resource busy',
        'status 1',
        '1',
        'test_klp_livepatch: this has been live patched',
        'write error: Invalid argument',
        "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)",
        '',
      ].join('\n'),
    );
    expect(r.status).toBe(0);
    expect(readFileSync(HOST_SYSCTL, 'utf8')).toBe(host);
  }, 60_000);

  it('runs the kernel 6.12 test-ftrace.sh unmodified', async () => {
    const { sources, dir } = kernelTestModules('6.12');
    const work = mkdtempSync(join(tmpdir(), 'klp-ksys-'));
    try {
      cpSync(sources.selftests, work, { recursive: true });
      mkdirSync(join(work, 'test_modules'), { recursive: true });
      for (const f of readdirSync(dir).filter((f) => f.endsWith('.ko'))) cpSync(join(dir, f), join(work, 'test_modules', f));
      // has_kdir wants a directory to build modules in: they are built already
      const r = await cli([...SHELL, '-c', `cd ${work} && KDIR=${work} ./test-ftrace.sh`]);
      expect(r.stdout).toBe('TEST: livepatch interaction with ftrace_enabled sysctl ... ok\n');
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);
});
