// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What `klp-lab kselftest` shows on a terminal while its scripts run (a run of every script
 * takes about a minute): which script of how many, the checks it has passed, the test it is in
 * and the time it has taken, on one line of stderr that the TAP output passes around. The
 * counts come from the scripts' own output, as functions.sh writes it: `TEST: NAME ... ` when a
 * test starts, `ok` on the same line when its check_result passes. Nothing without a terminal.
 */
import { performance } from 'node:perf_hooks';
import { ProgressLine } from './terminal.ts';

const TICK_MS = 1000;

export class KselftestProgress {
  private script = '';
  private n = 0;
  private checks = 0;
  private test = '';
  private partial = '';
  private t0 = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly line: ProgressLine,
    private readonly total: number,
  ) {}

  /** The TAP output, printed around the progress line. */
  print(s: string): void {
    this.line.print(s);
  }

  /** Script `n` (from 1) starts. */
  start(n: number, script: string): void {
    Object.assign(this, { n, script, checks: 0, test: '', partial: '', t0: performance.now() });
    if (this.line.enabled && !this.timer) {
      this.timer = setInterval(() => this.show(), TICK_MS);
      this.timer.unref();
    }
    this.show();
  }

  /** The script's output as it comes. */
  output(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const l of [...lines, this.partial]) {
      const m = /^TEST: (.*?) \.\.\. ?(.*)$/.exec(l);
      if (!m) continue;
      this.test = m[1];
      if (m[2] === 'ok' && lines.includes(l)) this.checks++;
    }
    this.show();
  }

  done(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.line.done();
  }

  private show(): void {
    const s = Math.floor((performance.now() - this.t0) / 1000);
    const checks = `${this.checks} check${this.checks === 1 ? '' : 's'} ok`;
    this.line.set(`kselftest ${this.n}/${this.total} ${this.script}: ${checks}${this.test ? `, in "${this.test}"` : ''} (${s} s)`);
  }
}
