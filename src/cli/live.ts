// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `livepatch ... --live`: the view `klp-lab top` shows of a running lab, drawn on stderr while
 * the session's steps run -- a module load, a wait for a transition, `run:MS` -- and erased
 * before the usual report is printed. The steps run synchronously, without an event loop turn,
 * so the frame is drawn from the machine's after-round hook, at most five times a second of
 * host time; taking the status only reads the machine, so the session's log is the same with
 * or without --live.
 */
import { performance } from 'node:perf_hooks';
import type { WriteStream } from 'node:tty';
import { labStatus, type Lab } from '../lab/index.ts';
import { InPlaceFrame, termSize } from './terminal.ts';
import { renderStatus } from './top-view.ts';

/** Host ms between two frames. */
const FRAME_MS = 200;

export class LiveView {
  private readonly frame: InPlaceFrame;
  private subtitle = '';
  private lastMs = -Infinity;
  private readonly hook = () => {
    if (performance.now() - this.lastMs >= FRAME_MS) this.draw();
  };

  constructor(
    private readonly lab: Lab,
    private readonly tty: WriteStream,
  ) {
    this.frame = new InPlaceFrame(tty);
    lab.k.machine.afterRound.push(this.hook);
  }

  /** The step now running: drawn at once, then as the machine runs. */
  step(n: number, of: number, arg: string): void {
    this.subtitle = `step ${n}/${of}  ${arg}`;
    this.draw();
  }

  /** Stops drawing and erases the frame. */
  close(): void {
    const hooks = this.lab.k.machine.afterRound;
    const i = hooks.indexOf(this.hook);
    if (i >= 0) hooks.splice(i, 1);
    this.frame.clear();
  }

  private draw(): void {
    this.lastMs = performance.now();
    const { width } = termSize(this.tty);
    const lines = renderStatus(labStatus(this.lab), {
      width: width - 1,
      height: this.frame.maxHeight,
      title: 'klp-lab livepatch --live',
      subtitle: this.subtitle,
    });
    this.frame.draw(lines);
  }
}
