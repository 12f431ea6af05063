// SPDX-License-Identifier: GPL-2.0-or-later
// `klp-lab explore` and `klp-lab replay` from the command line: the quirks listed, the fork
// race found and replayed bit for bit, with its trace and report (and a tampered replay refused), a clean campaign
// counted, shards of a scenario file merged, and bad input refused with status 2.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'klp-explore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const scenarioFile = (name: string, boot: object, steps: string[]) => {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ name: 'bad', description: '', boot, steps }));
  return file;
};
const BAD_WORKLOAD = scenarioFile('bad-workload.json', { workload: 'nope' }, ['run:1']);
const BAD_STEP = scenarioFile('bad-step.json', {}, ['run:1', 'jump:1']);

describe('klp-lab explore', () => {
  it('--list-quirks names each quirk with its commit and subject', async () => {
    const r = await cli(['explore', '--list-quirks']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^fork-race +747f7a290117 \("livepatch: fix race between fork and KLP transition"\)\n +a child forked/m);
  });

  it('finds the fork race with its quirk, writes a replay file, and replay reproduces it bit for bit', async () => {
    const file = join(dir, 'fork.replay.json');
    const r = await cli(['explore', '--quirk', 'fork-race', '--runs', '2', '--json', '--out', file]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const res = JSON.parse(r.stdout);
    expect(Object.keys(res).sort()).toEqual(['found', 'replay', 'schedules', 'seconds']);
    expect(res).toMatchObject({ found: true, replay: file });
    expect(res.schedules).toBeGreaterThanOrEqual(1);
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    expect(rec.format).toBe('klp-lab-replay/1');
    expect(rec.violation.kind).toBe('pending-mismatch');

    const again = await cli(['replay', file]);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`log sha256 ${rec.digest}: the recorded one, bit for bit`);
    expect(again.stdout).toMatch(
      /violation: pending-mismatch at [\d.]+ s emulated\n {2}(kchild\/\d+|uchild):\d+ is pending with patch state 1 in the transition of 'test_klp_livepatch' to 1\ntask (kchild\/\d+|uchild) pid \d+:\n {2}\S+\+0x/,
    );
    expect(again.stdout).toContain('ret_from_fork+0x0/0x1e');

    // the replayed run's timeline and report: the same run, bit for bit, with its files
    const [traceFile, htmlFile] = [join(dir, 'fork.trace.json'), join(dir, 'fork.html')];
    const shown = await cli(['replay', file, '--trace', traceFile, '--html', htmlFile]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toBe(again.stdout);
    const events = (JSON.parse(readFileSync(traceFile, 'utf8')) as { traceEvents: { ph: string; name: string }[] }).traceEvents;
    expect(events.some((e) => e.ph === 'M' && e.name === 'process_name')).toBe(true);
    expect(events.filter((e) => e.name.startsWith('patching')).length).toBeGreaterThan(0);
    expect(readFileSync(htmlFile, 'utf8')).toMatch(/^<!DOCTYPE html>/i);

    // the same file with another schedule is another run: said loudly, status 1
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify({ ...rec, schedule: { ...rec.schedule, quantum: rec.schedule.quantum + 1 } }));
    const off = await cli(['replay', tampered]);
    expect(off.status).toBe(1);
    expect(off.stdout).toContain(`DIFFERS from the recorded ${rec.digest}`);
    expect(off.stderr).toMatch(/^klp-lab: error: the replay differs from the recording: log digest/);
  });

  it('without the quirk the same campaign is clean and says how many schedules it covered', async () => {
    const r = await cli(['explore', 'fork-race', '--runs', '2']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^explore: fork-race, campaign seed 1, 1 worker\nno violation in 2 schedules \([\d.]+ s\), \d+ distinct outcomes?\n$/,
    );
  });

  it('shards of a scenario file, K given or from JOB_COMPLETION_INDEX, merge into the whole campaign', async () => {
    const scenario = join(dir, 'quick.json');
    writeFileSync(
      scenario,
      JSON.stringify({
        name: 'quick',
        description: 'load and disable on an idle machine',
        boot: { cpus: 2, workload: 'idle' },
        steps: ['run:20', 'load:test_klp_livepatch', 'disable:test_klp_livepatch'],
      }),
    );
    const shards = join(dir, 'shards');
    rmSync(shards, { recursive: true, force: true });
    mkdirSync(shards);
    const a = await cli(['explore', scenario, '--runs', '4', '--shard', '0/2', '--out', join(shards, 'a.json')]);
    expect(a.status).toBe(0);
    expect(a.stdout).toContain('no violation in 2 schedules');
    const b = await cli(['explore', scenario, '--runs', '4', '--shard', '2', '--json'], {
      cwd: shards,
      env: { ...process.env, JOB_COMPLETION_INDEX: '1' },
    });
    expect(b.status).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ found: false, schedules: 2, replay: null, result: 'explore-quick-shard-1-of-2.json' });
    const m = await cli(['explore', '--merge', shards]);
    expect(m.status).toBe(0);
    expect(m.stdout).toMatch(/^merged 2 of 2 shards of quick, campaign seed 1\nno violation in 4 schedules/);
  });

  it.each([
    [['explore', 'nope'], /unknown scenario 'nope': built-in ones are basic, fork-race(, [\w-]+)*, or the path of a JSON file/],
    [['explore', '--quirk', 'nope'], /unknown quirk 'nope': the lab has fork-race(, [\w-]+)* \(--list-quirks\)/],
    [['explore'], /name a SCENARIO, a quirk \(--quirk Q\) or both/],
    [['explore', 'basic', '--shard', '3/2'], /bad shard index 3 of 2: it must be from 0 to 1/],
    [['explore', 'basic', '--shard', 'x'], /bad shard 'x': it must be K\/N/],
    [['explore', 'basic', '--runs', '2', '--budget', '3'], /give --budget SECONDS or --runs N, not both/],
    [['explore', 'basic', '--workers', '0'], /option '--workers <N>' argument '0' is invalid/],
    [['explore', '/nonexistent/s.json'], /cannot read scenario file '\/nonexistent\/s.json': ENOENT/],
    [['explore', '--merge', '/nonexistent'], /cannot read shard folder '\/nonexistent': ENOENT/],
    [['explore', BAD_WORKLOAD], /scenario file '.*bad-workload.json': unknown workload 'nope': the image has idle, default, /],
    [['explore', BAD_STEP], /scenario file '.*bad-step.json': unknown step 'jump:1': steps are load: /],
    [['replay', '/nonexistent/r.json'], /cannot read replay file '\/nonexistent\/r.json': ENOENT/],
    [['replay', 'package.json'], /replay file 'package.json': not a replay file \(format 'klp-lab-replay\/1'\)/],
  ])('refuses %j with status 2', async (args, message) => {
    const r = await cli(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^klp-lab: error: /);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
