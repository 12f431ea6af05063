// SPDX-License-Identifier: GPL-2.0-or-later
// `klp-lab livepatch ... --live` under tmux: the lab's view (top's) while the steps run -- the
// step, the stalled transition, its pending count and blockers -- then the usual report, the
// same as without --live, and nothing of the view left on the terminal.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, BIN, ROOT } from './helpers.ts';

const STEPS = ['--cpus', '2', 'insmod:test_klp_deep', 'run:8000', 'force:test_klp_deep', 'wait:test_klp_deep'];

describe('klp-lab livepatch --live', () => {
  it('shows the transition while the steps run, then the usual report (tmux)', async () => {
    const server = `klp-lab-live-${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'live').stdout;
    const frames: string[] = [];
    try {
      const cmd = `cd ${ROOT} && ${process.execPath} ${BIN} livepatch --live ${STEPS.join(' ')}; echo live-exited-$?; sleep 60`;
      expect(tmux('new-session', '-d', '-s', 'live', '-x', '80', '-y', '24', cmd).status).toBe(0);
      for (let i = 0; i < 1200 && !/^live-exited-\d+$/m.test(frames.at(-1) ?? ''); i++) {
        frames.push(screen());
        await sleep(50);
      }
      const stalled = frames.find(
        (f) =>
          /^step 2\/4 {2}run:8000$/m.test(f) &&
          /^TRANSITION test_klp_deep -> patched$/m.test(f) &&
          /^ {2}kdeep\/\d:\d+ {2}sleeping on function deep_c$/m.test(f),
      );
      expect(stalled, `no frame showed the stalled transition:\n${frames.join('\n-----\n')}`).toBeDefined();
      expect(stalled).toMatch(/^klp-lab livepatch --live +emulated \d+\.\d{3} s$/m);
      expect(stalled).toMatch(/^ {2}[1-9]\d* of \d+ tasks pending, \d+ unfinished passes/m);
      for (const line of stalled!.split('\n')) expect(line.length).toBeLessThan(80);

      // the end: the report as without --live, the view erased
      const whole = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'live').stdout;
      expect(whole).toMatch(/^live-exited-0$/m);
      expect(whole).not.toMatch(/klp-lab livepatch --live|BLOCKERS|^step \d/m);
      const plain = await cli(['livepatch', ...STEPS]);
      expect(plain.status).toBe(0);
      const report = whole.slice(whole.indexOf('# kernel log'), whole.indexOf('live-exited-0')).trimEnd();
      expect(report.split('\n').map((l) => l.trimEnd())).toEqual(plain.stdout.trimEnd().split('\n'));
    } finally {
      tmux('kill-server');
    }
  }, 180_000);

  it('is refused when stderr is not a terminal', async () => {
    const r = await cli(['livepatch', '--live', 'run:10']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("klp-lab: error: option '--live' draws on a terminal, and stderr is not one\n");
    expect(r.stdout).toBe('');
  });
});
