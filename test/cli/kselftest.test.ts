// SPDX-License-Identifier: GPL-2.0-or-later
// `klp-lab kselftest`: the kernel's own livepatch selftest scripts, unmodified, from Debian's
// linux-source-6.1 and -6.12 (fetched into the cache on first use), each on a fresh running
// lab in the shell's namespaces, reported as kselftest's runner reports them.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSources } from '../../src/lab/index.ts';
import { cli } from './helpers.ts';

const TAP_LIVEPATCH = (lines: string[]) =>
  [
    'TAP version 13',
    '1..1',
    ...lines,
    '# selftests: livepatch: test-livepatch.sh',
    '# TEST: basic function patching ... ok',
    '# TEST: multiple livepatches ... ok',
    '# TEST: atomic replace livepatch ... ok',
    'ok 1 selftests: livepatch: test-livepatch.sh',
    '',
  ].join('\n');

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('klp-lab kselftest', () => {
  it("runs 6.1's test-livepatch.sh (modprobe NAME, modinfo NAME) and reports TAP", async () => {
    const r = await cli(['kselftest', '--kernel', '6.1', 'test-livepatch.sh']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(TAP_LIVEPATCH([]));
    expect(r.status).toBe(0);
  }, 900_000);

  it("runs 6.12's test-livepatch.sh (insmod test_modules/NAME.ko, $KDIR) and --save keeps each check's two texts", async () => {
    const save = tempDir('klp-kselftest-save-');
    const r = await cli(['kselftest', '--kernel', '6.12', 'test-livepatch', '--save', save]);
    expect(r.stderr).toBe('');
    // 6.12's runner prints the timeout of the folder's settings file
    expect(r.stdout).toBe(TAP_LIVEPATCH(['# timeout set to 0']));
    expect(r.status).toBe(0);
    const names = readdirSync(save).sort();
    expect(names).toEqual(['01', '02', '03'].flatMap((nn) => [`test-livepatch.sh.${nn}.expected`, `test-livepatch.sh.${nn}.result`]));
    for (const nn of ['01', '02', '03'])
      expect(readFileSync(join(save, `test-livepatch.sh.${nn}.result`), 'utf8')).toBe(
        readFileSync(join(save, `test-livepatch.sh.${nn}.expected`), 'utf8'),
      );
    const first = readFileSync(join(save, 'test-livepatch.sh.01.result'), 'utf8');
    expect(first.split('\n')[0]).toBe('% insmod test_modules/test_klp_livepatch.ko');
    expect(first).toContain("livepatch: 'test_klp_livepatch': patching complete\n");
  }, 900_000);

  it('reports a failing script as not ok, keeps its differing texts, and exits with 1', async () => {
    // a copy of the kernel's script whose first check expects another text (the cache is not touched)
    const dir = tempDir('klp-kselftest-fail-');
    const script = readFileSync(join(kernelSources('6.12').selftests, 'test-livepatch.sh'), 'utf8');
    const broken = script.replace("livepatch: '$MOD_LIVEPATCH1': patching complete", "livepatch: '$MOD_LIVEPATCH1': patching NOT complete");
    expect(broken).not.toBe(script);
    writeFileSync(join(dir, 'test-livepatch.sh'), broken);
    const save = join(dir, 'save');
    const r = await cli(['kselftest', '--kernel', '6.12', join(dir, 'test-livepatch.sh'), '--save', save]);
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 4)).toEqual(['TAP version 13', '1..1', '# timeout set to 0', '# selftests: livepatch: test-livepatch.sh']);
    expect(lines).toContain('# TEST: basic function patching ... not ok');
    expect(lines).toContain("# -livepatch: 'test_klp_livepatch': patching NOT complete");
    expect(lines).toContain('# ERROR: livepatch kselftest(s) failed');
    expect(lines.at(-2)).toBe('not ok 1 selftests: livepatch: test-livepatch.sh # exit=1');
    const expected = readFileSync(join(save, 'test-livepatch.sh.01.expected'), 'utf8');
    const result = readFileSync(join(save, 'test-livepatch.sh.01.result'), 'utf8');
    expect(expected).toContain('patching NOT complete');
    expect(result).toContain("livepatch: 'test_klp_livepatch': patching complete\n");
  }, 900_000);

  it("passes 6.12's test-syscall.sh: its test_klp-call_getpid runs as guest tasks whose pids are the script's $!", async () => {
    const save = tempDir('klp-kselftest-syscall-');
    const r = await cli(['kselftest', '--kernel', '6.12', 'test-syscall.sh', '--save', save]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      'TAP version 13',
      '1..1',
      '# timeout set to 0',
      '# selftests: livepatch: test-syscall.sh',
      '# TEST: patch getpid syscall while being heavily hammered ... ok',
      'ok 1 selftests: livepatch: test-syscall.sh',
      '',
    ]);
    expect(r.status).toBe(0);
    const result = readFileSync(join(save, 'test-syscall.sh.01.result'), 'utf8');
    expect(result).toBe(readFileSync(join(save, 'test-syscall.sh.01.expected'), 'utf8'));
    // one process per cpu of the lab (getconf _NPROCESSORS_ONLN), each crossed off by the new getpid
    const pids = /^% insmod test_modules\/test_klp_syscall\.ko klp_pids=([\d,]+)$/m.exec(result)![1].split(',');
    expect(pids).toHaveLength(4);
    expect(result).toContain('test_klp_syscall: Remaining not livepatched processes: 0\n');
  }, 900_000);

  // the scripts the lab passes on both kernels, and test-syscall.sh, which only 6.12 has
  const PASSING = ['test-callbacks.sh', 'test-ftrace.sh', 'test-livepatch.sh', 'test-shadow-vars.sh', 'test-state.sh', 'test-sysfs.sh'];
  for (const version of ['6.1', '6.12'])
    it(`passes every script of ${version}, unmodified`, async () => {
      const scripts = version === '6.12' ? [...PASSING, 'test-syscall.sh'].sort() : PASSING;
      // test-callbacks.sh's "busy target module" must disable its stalled patch within the 15
      // emulated seconds after which the kernel signals the remaining tasks; the suite runs this
      // beside other test files on the same cores, so it gives the scripts' commands 3 s of wall
      // time for that rather than the default pace's 1 s
      const r = await cli(['kselftest', '--kernel', version, '--pace', '5']);
      expect(r.stdout.split('\n').filter((l) => /^(not )?ok /.test(l))).toEqual(
        scripts.map((p, i) => `ok ${i + 1} selftests: livepatch: ${p}`),
      );
      expect(r.stdout).not.toMatch(/\.\.\. not ok/);
      expect(r.status).toBe(0);
    }, 900_000);

  it('--jobs N runs N scripts at once, each on its own lab, and reports them in order', async () => {
    // two scripts of one's own that each wait for the other to have started: they pass only
    // when they run at the same time
    const dir = tempDir('klp-kselftest-jobs-');
    const script = (me: string, other: string) =>
      `#!/bin/bash\ntouch ${dir}/${me}\nfor i in $(seq 200); do [ -e ${dir}/${other} ] && { echo "${me} saw ${other}"; exit 0; }; sleep 0.1; done\nexit 1\n`;
    writeFileSync(join(dir, 'test-a.sh'), script('a', 'b'));
    writeFileSync(join(dir, 'test-b.sh'), script('b', 'a'));
    const r = await cli(['kselftest', '--kernel', '6.1', '--jobs', '2', join(dir, 'test-a.sh'), join(dir, 'test-b.sh')]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        'TAP version 13',
        '1..2',
        '# selftests: livepatch: test-a.sh',
        '# a saw b',
        'ok 1 selftests: livepatch: test-a.sh',
        '# selftests: livepatch: test-b.sh',
        '# b saw a',
        'ok 2 selftests: livepatch: test-b.sh',
        '',
      ].join('\n'),
    );
    expect(r.status).toBe(0);
    const bad = await cli(['kselftest', '--kernel', '6.1', '--jobs', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/option '--jobs <N>' argument '0' is invalid/);
  }, 120_000);

  it('refuses an unknown script and a missing --kernel before booting', async () => {
    const r = await cli(['kselftest', '--kernel', '6.1', 'test-nothing.sh']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/argument TEST 'test-nothing.sh' is invalid\. Linux 6\.1's scripts are test-callbacks\.sh, /);
    const m = await cli(['kselftest']);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/required option '--kernel <VERSION>' not specified/);
  }, 120_000);
});
