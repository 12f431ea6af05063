// SPDX-License-Identifier: GPL-2.0-or-later
// What README.md tells a user to do, done literally from a temporary directory: build and load
// one's own patch, install the command and run it from elsewhere, use the package as a library.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, ROOT } from './helpers.ts';

const README = readFileSync(`${ROOT}README.md`, 'utf8');

/** The fenced blocks of one README section, in order, as [language, text]. */
function fencedBlocks(section: string): [string, string][] {
  const start = README.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`README.md has no section '${section}'`);
  const end = README.indexOf('\n## ', start + 1);
  const text = README.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => [m[1], m[2]]);
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'klp-lab-readme-'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('README', () => {
  it('"Write your own livepatch module": the module builds with make M= and loads as written', async () => {
    const blocks = fencedBlocks('Write your own livepatch module');
    expect(blocks.map(([lang]) => lang)).toEqual(['c', 'make', 'sh']);
    const dir = tempDir();
    writeFileSync(join(dir, 'my_patch.c'), blocks[0][1]);
    writeFileSync(join(dir, 'Kbuild'), blocks[1][1]);
    const r = await cli(['-e', '-c', blocks[2][1]], { command: ['bash'], cwd: dir, env: { ...process.env, KLP_LAB: ROOT } });
    expect(r.stderr).not.toMatch(/error|warning/i);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\] my_patch: 2 greetings\n/);
    expect(r.stdout).toMatch(
      /\] livepatch: 'my_patch': patching complete\n\[ *[\d.]+\] % cat cmdline_proc_show\n(\[ *[\d.]+\] my_patch: hello from my own live patch\n){2}\n/,
    );
    expect(r.stdout).toContain('/sys/kernel/livepatch/my_patch/enabled = 1');
  }, 120_000);

  it('the command works installed (npm install -g) and from any directory', async () => {
    const prefix = tempDir();
    execFileSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ROOT], { stdio: 'pipe' });
    const elsewhere = tempDir();
    const bin = join(prefix, 'bin', 'klp-lab');
    const [version, boot] = await Promise.all([
      cli(['--version'], { command: [bin], cwd: elsewhere }),
      cli(['--cpus', '1', '--ms', '50'], { command: [bin], cwd: elsewhere }),
    ]);
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe(`${JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version}\n`);
    expect(boot.status).toBe(0);
    expect(boot.stdout).toMatch(/^# kernel log\n\[    0\.000000\] Linux-like lab kernel booting on 1 cpus/);
    expect(boot.stdout).toMatch(/\n# run\nran 50\.0 ms emulated/);
  }, 120_000);

  it('"As a library": the example runs as written, importing the package by name', async () => {
    const blocks = fencedBlocks('As a library');
    expect(blocks.map(([lang]) => lang)).toEqual(['js']);
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{ "name": "my-lab-script", "private": true, "type": "module" }\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', ROOT], { cwd: dir, stdio: 'pipe' });
    writeFileSync(join(dir, 'example.mjs'), blocks[0][1]);
    const r = await cli(['example.mjs'], { command: [process.execPath], cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^test_klp_livepatch: this has been live patched\nenabled = 1\ntask kdeep\/0 pid 4 \(switched out\):\nreliable stack trace, \d+ entries\nCall Trace:\n __schedule\+[\s\S]* ret_from_fork\+0x[0-9a-f]+\/0x[0-9a-f]+\n$/,
    );
  }, 120_000);

  it('"Finding bugs": the Slurm script runs its shard as written, and the Job runs the same campaign', async () => {
    const blocks = fencedBlocks('Finding bugs: `klp-lab explore`');
    expect(blocks.map(([lang]) => lang)).toEqual(['yaml', 'sh']);
    const dir = tempDir();
    writeFileSync(join(dir, 'explore.sh'), blocks[1][1]);
    // two array tasks of a 4-schedule campaign, one core each, as Slurm would start them
    for (const k of ['0', '1']) {
      const env = {
        ...process.env,
        KLP_LAB: ROOT,
        RUNS: '4',
        SLURM_ARRAY_TASK_ID: k,
        SLURM_ARRAY_TASK_COUNT: '2',
        SLURM_CPUS_PER_TASK: '1',
      };
      const r = await cli(['explore.sh'], { command: ['bash'], cwd: dir, env });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`shard ${k}/2`);
    }
    expect(readdirSync(join(dir, 'results/fork-race')).sort()).toEqual([
      'explore-fork-race+fork-race-shard-0-of-2.json',
      'explore-fork-race+fork-race-shard-1-of-2.json',
    ]);
    const merged = await cli(['explore', '--merge', 'results/fork-race'], { cwd: dir });
    expect(merged.status).toBe(1);
    expect(merged.stdout).toMatch(/^merged 2 of 2 shards of fork-race with quirk fork-race, campaign seed 1\nviolation in schedule #0/);
    // the Job's command is the script's, shard index from JOB_COMPLETION_INDEX
    const job = blocks[0][1];
    expect(job).toContain('completionMode: Indexed');
    expect(job).toContain('completions: 16');
    expect(job).toContain("command: [node, bin/klp-lab.mjs, explore, --quirk, fork-race, --seed, '1', --runs, '100000', --shard, '16'");
  }, 300_000);
});
