// SPDX-License-Identifier: GPL-2.0-or-later
// Progress of long runs on a terminal (src/cli/terminal.ts, kselftest-progress.ts): one line on
// stderr that the output passes around, nothing at all without a terminal; `klp-lab kselftest`
// under tmux shows the script, its checks and its test, and leaves only the TAP output.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProgressLine } from '../../src/cli/terminal.ts';
import { KselftestProgress } from '../../src/cli/kselftest-progress.ts';
import { BIN, ROOT } from './helpers.ts';

/** A stream that records what is written to it, a terminal or not. */
function stream(isTTY: boolean, columns = 120): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, columns, rows: 24, text: '', write: (t: string) => ((s.text += t), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('the progress line', () => {
  it('counts the checks of the script it is in, and takes itself away around the output', () => {
    const err = stream(true);
    let out = '';
    const p = new KselftestProgress(new ProgressLine(err, (s) => (out += s)), 3);
    p.start(2, 'test-callbacks.sh');
    expect(err.text).toBe('\rkselftest 2/3 test-callbacks.sh: 0 checks ok (0 s)\x1b[K');
    p.output('TEST: target module before livepatch ... ');
    expect(err.text.split('\r').at(-1)).toBe(
      'kselftest 2/3 test-callbacks.sh: 0 checks ok, in "target module before livepatch" (0 s)\x1b[K',
    );
    p.output('ok\nTEST: module_coming notifier ... ok\nTEST: module_going');
    expect(err.text.split('\r').at(-1)).toBe('kselftest 2/3 test-callbacks.sh: 2 checks ok, in "module_coming notifier" (0 s)\x1b[K');
    err.text = '';
    p.print('# TEST: x ... ok\n');
    // the line goes, the output comes, the line comes back
    expect(out).toBe('# TEST: x ... ok\n');
    expect(err.text).toBe('\r\x1b[K\rkselftest 2/3 test-callbacks.sh: 2 checks ok, in "module_coming notifier" (0 s)\x1b[K');
    err.text = '';
    p.done();
    expect(err.text).toBe('\r\x1b[K');
  });

  it('is cut to the terminal width, and writes nothing when stderr is not a terminal', () => {
    const err = stream(true, 60);
    const line = new ProgressLine(err, () => {});
    line.set('x'.repeat(200));
    expect(err.text).toBe(`\r${'x'.repeat(59)}\x1b[K`);
    const pipe = stream(false);
    let out = '';
    const p = new KselftestProgress(new ProgressLine(pipe, (s) => (out += s)), 1);
    p.start(1, 'test-state.sh');
    p.output('TEST: system state modification ... ok\n');
    p.print('ok 1 selftests: livepatch: test-state.sh\n');
    p.done();
    expect(pipe.text).toBe('');
    expect(out).toBe('ok 1 selftests: livepatch: test-state.sh\n');
  });

  it('holds a line of output until it ends, the progress line staying under the output', () => {
    const err = stream(true);
    let out = '';
    const line = new ProgressLine(err, (s) => (out += s));
    line.set('busy');
    line.print('# TEST: first ... ');
    expect(out).toBe('');
    line.set('still busy');
    expect(err.text).toBe('\rbusy\x1b[K\rstill busy\x1b[K');
    line.print('ok\n# TEST: second ... ');
    expect(out).toBe('# TEST: first ... ok\n');
    expect(err.text.split('\r').slice(-2)).toEqual(['\x1b[K', 'still busy\x1b[K']);
    line.done();
    expect(out).toBe('# TEST: first ... ok\n# TEST: second ... ');
    expect(err.text.endsWith('\r\x1b[K')).toBe(true);
  });
});

describe('klp-lab kselftest on a terminal (tmux)', () => {
  it('shows the script, its checks and its test while it runs, and leaves the TAP output alone', async () => {
    const server = `klp-lab-progress-${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'ks').stdout;
    const dir = mkdtempSync(join(tmpdir(), 'klp-progress-'));
    const script = join(dir, 'test-mine.sh');
    writeFileSync(script, '#!/bin/bash\necho -n "TEST: first ... "; echo ok\necho -n "TEST: second ... "; sleep 4; echo ok\n');
    chmodSync(script, 0o755);
    try {
      const cmd = `cd ${ROOT} && ${process.execPath} ${BIN} kselftest --kernel 6.12 ${script}; echo ks-exited-$?; sleep 60`;
      expect(tmux('new-session', '-d', '-s', 'ks', '-x', '100', '-y', '30', cmd).status).toBe(0);
      let seen = '';
      for (let i = 0; i < 1200 && !/^ks-exited-\d+$/m.test(seen); i++) {
        const s = screen();
        if (/^kselftest 1\/1 test-mine\.sh: 1 check ok, in "second" \(\d+ s\)$/m.test(s)) seen += s;
        if (/^ks-exited-\d+$/m.test(s)) seen += s;
        await sleep(100);
      }
      expect(seen).toMatch(/^kselftest 1\/1 test-mine\.sh: 1 check ok, in "second" \(\d+ s\)$/m);
      const end = screen();
      expect(end).toMatch(/^ks-exited-0$/m);
      expect(end).not.toMatch(/^kselftest /m);
      expect(end.slice(0, end.indexOf('ks-exited-0')).trimEnd().split('\n')).toEqual([
        'TAP version 13',
        '1..1',
        expect.stringMatching(/^# timeout set to \d+$/),
        '# selftests: livepatch: test-mine.sh',
        '# TEST: first ... ok',
        '# TEST: second ... ok',
        'ok 1 selftests: livepatch: test-mine.sh',
      ]);
    } finally {
      tmux('kill-server');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('npm run bench on a terminal (tmux)', () => {
  it('says which benchmark runs, then leaves only its figures', async () => {
    const server = `klp-lab-bench-${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'b').stdout;
    try {
      const cmd = `cd ${ROOT} && ${process.execPath} --import tsx bench/run.ts boot; echo bench-exited-$?; sleep 60`;
      expect(tmux('new-session', '-d', '-s', 'b', '-x', '100', '-y', '30', cmd).status).toBe(0);
      let seen = false;
      let s = '';
      for (let i = 0; i < 2400 && !/^bench-exited-\d+$/m.test(s); i++) {
        s = screen();
        seen ||= /^bench 1\/1 boot: \d+ s \(all: \d+ s\)$/m.test(s);
        await sleep(50);
      }
      expect(seen).toBe(true);
      expect(s).toMatch(/^bench-exited-0$/m);
      expect(s).not.toMatch(/^bench \d/m);
      expect(s).toMatch(/^boot to all tasks running, 4 vCPUs, default workload \(median of \d+\):$/m);
    } finally {
      tmux('kill-server');
    }
  }, 300_000);
});
