// SPDX-License-Identifier: GPL-2.0-or-later
// `klp-lab top`: the live view of a running lab, under tmux as a person sees it -- `klp-lab
// shell` in one pane, `top` in another, a stalling patch loaded in the shell showing up in top
// with its pending count and blockers, forced, and `q` giving the terminal back. Also the view
// itself (80x24 whatever the lab) and how top finds its lab.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FIXTURES } from '../../src/lab/selftest.ts';
import { labStatus, type CpuStatus, type LabStatus } from '../../src/lab/status.ts';
import { RunningLab } from '../../src/lab/running.ts';
import { ControlServer } from '../../src/lab/control.ts';
import { renderStatus } from '../../src/cli/top-view.ts';
import { useLab } from '../helpers.ts';
import { cli, BIN, ROOT } from './helpers.ts';

const boot = useLab({ cpus: 2, workload: 'default' }, { start: false });

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** A private runtime directory, as $XDG_RUNTIME_DIR is (0700). */
function runtimeDir(): string {
  return mkdtempSync(join(tmpdir(), 'klp-xdg-'));
}

describe('the view', () => {
  it('fits 80x24 and shows a stalled transition: pending count, blockers first, their function', async () => {
    const lab = await boot();
    lab.modules.load(`${FIXTURES}test_klp_deep.ko`);
    lab.k.runFor(2200);
    const s = labStatus(lab);
    const lines = renderStatus(
      { ...s, pace: 1, running: true },
      { width: 80, height: 24, title: 'klp-lab top', subtitle: 'lab /run/x/control', footer: 'q quit' },
    );
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    const text = lines.join('\n');
    expect(lines[0]).toMatch(/^klp-lab top +pace 1x  emulated \d+\.\d{3} s$/);
    expect(lines[1]).toBe('lab /run/x/control');
    expect(text).toMatch(/^TRANSITION test_klp_deep -> patched$/m);
    const t = s.transition!;
    expect(text).toContain(`  ${t.pending} of ${t.tasks} tasks pending, ${t.unfinishedPasses} unfinished passes, next pass in `);
    expect(text).toMatch(/^ {2}kdeep\/0:\d+ {2}sleeping on function deep_c$/m);
    // the task table starts with the blocked tasks
    const header = lines.findIndex((l) => l.startsWith('PID'));
    expect(lines[header + 1]).toMatch(/^\d+ +kdeep\/\d +[A-Z] +- +unpatched +pending +sleeping on function deep_c$/);
    expect(lines.at(-1)).toBe('q quit');
    expect(text).toMatch(/^\.\.\. \d+ more tasks$/m);
  });

  it('counts 64 vCPUs instead of listing them, and cuts long lines', async () => {
    const lab = await boot();
    lab.k.runFor(20);
    const s: LabStatus = labStatus(lab);
    const cpus: CpuStatus[] = Array.from({ length: 64 }, (_, i) => ({ ...s.cpus[i % 2], cpu: i, state: i < 60 ? 'idle' : 'running' }));
    cpus[63] = { ...cpus[63], state: 'offline' };
    const lines = renderStatus({ ...s, cpus }, { width: 40, height: 24, title: 'x'.repeat(100) });
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines).toContain('64 vCPUs: 3 running, 60 idle, 1 offline');
  });
});

describe('klp-lab top finds its lab', () => {
  it('prints one frame through a pipe; --socket, else the one lab of the runtime directory; names the problem otherwise', async () => {
    const xdg = runtimeDir();
    const env = { ...process.env, XDG_RUNTIME_DIR: xdg, KLP_SOCKET: '' };
    try {
      const none = await cli(['top'], { env });
      expect(none.status).toBe(1);
      expect(none.stderr).toBe('klp-lab: error: no running lab found (start one with `klp-lab shell`, or give --socket PATH)\n');
      const gone = await cli(['top', '--socket', join(xdg, 'nothing')], { env });
      expect(gone.stderr).toBe(`klp-lab: error: no lab listens on ${join(xdg, 'nothing')}\n`);

      const r = await RunningLab.start({ cpus: 2, workload: 'idle' });
      open.push(r);
      const a = await ControlServer.listen(r, { runtimeBase: xdg });
      open.push(a);
      const found = await cli(['top'], { env });
      expect(found.stderr).toBe('');
      expect(found.status).toBe(0);
      const lines = found.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^klp-lab top +pace free  emulated \d+\.\d{3} s$/);
      expect(lines[1]).toBe(`lab ${a.path}`);
      expect(lines).toContain('no transition');
      expect(lines.length).toBeLessThanOrEqual(24);

      const b = await ControlServer.listen(r, { runtimeBase: xdg });
      open.push(b);
      const two = await cli(['top'], { env });
      expect(two.status).toBe(1);
      expect(two.stderr).toMatch(/^klp-lab: error: 2 labs are running; name one with --socket: /);
      expect(two.stderr).toContain(a.path);
      expect(two.stderr).toContain(b.path);
      const named = await cli(['top', '--socket', b.path], { env });
      expect(named.stdout).toContain(`\nlab ${b.path}\n`);
      const fromEnv = await cli(['top'], { env: { ...env, KLP_SOCKET: a.path } });
      expect(fromEnv.stdout).toContain(`\nlab ${a.path}\n`);
    } finally {
      rmSync(xdg, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('klp-lab top, beside klp-lab shell (tmux)', () => {
  it('shows the transition of a stalling patch, its pending count and blockers, until forced; q quits', async () => {
    const server = `klp-lab-top-${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const xdg = runtimeDir();
    const home = mkdtempSync(join(tmpdir(), 'klp-home-'));
    writeFileSync(join(home, '.bashrc'), '');
    const shell = 'lab:0.0';
    const top = 'lab:0.1';
    const screen = (pane: string) => tmux('capture-pane', '-p', '-t', pane).stdout;
    const waitFor = async (pane: string, ...res: RegExp[]) => {
      for (let i = 0; i < 300; i++) {
        const s = screen(pane);
        if (res.every((re) => re.test(s))) return s;
        await sleep(100);
      }
      throw new Error(`not on the screen of ${pane}: ${res.join(' ')}\n${screen(pane)}`);
    };
    const env = `XDG_RUNTIME_DIR=${xdg} HOME=${home} KLP_SOCKET=`;
    try {
      // two panes of 80x24, one above the other
      const shellCmd = `cd ${ROOT} && ${env} ${process.execPath} ${BIN} shell --cpus 2 --workload default; echo shell-exited-$?; sleep 60`;
      expect(tmux('new-session', '-d', '-s', 'lab', '-x', '80', '-y', '49', shellCmd).status).toBe(0);
      await waitFor(shell, /^\[klp-lab\] .*#\s*$/m);
      const topCmd = `cd ${ROOT} && ${env} ${process.execPath} ${BIN} top; echo top-exited-$?; sleep 60`;
      expect(tmux('split-window', '-v', '-t', 'lab:0', topCmd).status).toBe(0);
      expect(tmux('display', '-p', '-t', top, '#{pane_width}x#{pane_height}').stdout.trim()).toBe('80x24');
      const before = await waitFor(top, /^no transition$/m, /^q quit$/m);
      expect(before).toMatch(/^klp-lab top +pace 1x {2}emulated \d+\.\d{3} s$/m);
      expect(before).toMatch(new RegExp(`^lab ${xdg}/klp-lab-\\d+-\\w+/control$`, 'm'));
      expect(before).toMatch(/^0 +(idle|running) +\S+:\d+/m);

      tmux('send-keys', '-t', shell, 'modprobe test_klp_deep', 'Enter');
      const stalled = await waitFor(
        top,
        /^TRANSITION test_klp_deep -> patched$/m,
        /^ {2}[1-9]\d* of \d+ tasks pending, [1-9]\d* unfinished passes, next pass in \d\.\d{3} s$/m,
        /^ {2}kdeep\/\d:\d+ {2}sleeping on function deep_c$/m,
      );
      expect(stalled).toMatch(/^BLOCKERS \([1-9]\d*\)$/m);
      expect(stalled).toMatch(/patches: test_klp_deep\*/);
      for (const line of stalled.split('\n')) expect(line.length).toBeLessThanOrEqual(80);

      tmux('send-keys', '-t', shell, 'echo 1 > /sys/kernel/livepatch/test_klp_deep/force', 'Enter');
      const done = await waitFor(top, /^no transition$/m, /patches: test_klp_deep \(forced\)|patches: test_klp_deep$/m);
      expect(done).not.toMatch(/BLOCKERS/);

      tmux('send-keys', '-t', top, 'q');
      const after = await waitFor(top, /^top-exited-0$/m);
      // the alternate screen is gone: nothing of the view is left on the terminal
      expect(after).not.toMatch(/q quit|TRANSITION|no transition/);

      tmux('send-keys', '-t', shell, 'exit', 'Enter');
      await waitFor(shell, /^shell-exited-0$/m);
    } finally {
      tmux('kill-server');
      rmSync(xdg, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});
