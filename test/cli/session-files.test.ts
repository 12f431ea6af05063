// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --trace FILE and --html FILE on boot, livepatch and selftest, from the real command line: a
 * bad path is refused before anything boots (status 2, the option named), the files are
 * written whole (also when a step fails), with the interrupts and system calls of a traced
 * session, and the selftests' printed lines do not change.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'klp-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const trace = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { ph: string; name: string; args?: { name?: string } }[] };
const processNames = (file: string) =>
  trace(file)
    .traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name')
    .map((e) => e.args!.name!);

describe('--trace and --html', () => {
  it('refuses a path it cannot write, naming the option, before booting', async () => {
    const r = await cli(['livepatch', '--trace', `${dir}/no/such/dir/t.json`, 'load:test_klp_livepatch']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/option '--trace <FILE>' argument '.*' is invalid\. No such folder/);
    const h = await cli(['boot', '--html', dir]);
    expect(h.status).toBe(2);
    expect(h.stderr).toMatch(/option '--html <FILE>' argument '.*' is invalid\. '.*' is a folder/);
  });

  it('writes both files for boot, and for a livepatch session whose step fails', async () => {
    const b = await cli(['boot', '--cpus', '2', '--ms', '200', '--trace', `${dir}/boot.json`, '--html', `${dir}/boot.html`]);
    expect(b.status).toBe(0);
    expect(processNames(`${dir}/boot.json`)).toEqual(expect.arrayContaining(['vCPUs', 'livepatch', 'init (pid 1, user task)']));
    // a traced session records its interrupts and its user tasks' system calls
    const booted = trace(`${dir}/boot.json`).traceEvents.map((e) => e.name);
    expect(booted).toContain('timer');
    expect(booted).toContain('user');
    expect(booted.some((n) => n.startsWith('syscall '))).toBe(true);
    expect(readFileSync(`${dir}/boot.html`, 'utf8')).toMatch(/^<!DOCTYPE html>/);

    const l = await cli([
      'livepatch',
      '--cpus',
      '2',
      '--trace',
      `${dir}/lp.json`,
      '--html',
      `${dir}/lp.html`,
      'load:test_klp_livepatch',
      'rmmod:nosuch',
    ]);
    expect(l.status).toBe(1);
    const names = trace(`${dir}/lp.json`).traceEvents.map((e) => e.name);
    expect(names).toContain('patching test_klp_livepatch');
    expect(readFileSync(`${dir}/lp.html`, 'utf8')).toContain('/sys/kernel/livepatch/test_klp_livepatch/enabled');
  }, 120_000);

  it('selftest: one trace with a process group per test, the printed lines unchanged', async () => {
    const plain = await cli(['selftest', 'test-state']);
    const traced = await cli(['selftest', 'test-state', '--trace', `${dir}/st.json`, '--html', `${dir}/st.html`]);
    expect(traced.status).toBe(0);
    expect(traced.stdout).toBe(plain.stdout);
    const tests = [...plain.stdout.matchAll(/^TEST: (.*) \.\.\. ok$/gm)].map((m) => m[1]);
    expect(tests.length).toBeGreaterThan(1);
    const names = processNames(`${dir}/st.json`);
    for (const t of tests) expect(names).toContain(`${t}: livepatch`);
    const html = readFileSync(`${dir}/st.html`, 'utf8');
    for (const t of tests) expect(html).toContain(JSON.stringify(t).slice(1, -1));
  }, 120_000);
});
