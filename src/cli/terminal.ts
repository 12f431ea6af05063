// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Drawing on a terminal with plain ANSI (ECMA-48) sequences, which every terminal emulator,
 * tmux and the Linux console understand: a full-screen view on the alternate screen (`top`), a
 * frame redrawn in place under what was printed (`livepatch --live`), and a one-line progress
 * report (`kselftest`, `npm run bench`). None of them writes a byte when its stream is not a
 * terminal, so pipes and files get only the command's output.
 *
 * No library: the view needs the alternate screen, cursor moves, erasing, and single keys from
 * the keyboard -- about ten sequences and Node's own raw mode -- which is less than any terminal
 * UI package's API (blessed is unmaintained, ink brings React and a layout engine).
 */
import type { WriteStream } from 'node:tty';

const CSI = '\x1b[';
const ALT_SCREEN_ON = `${CSI}?1049h`;
const ALT_SCREEN_OFF = `${CSI}?1049l`;
const CURSOR_HIDE = `${CSI}?25l`;
const CURSOR_SHOW = `${CSI}?25h`;
const HOME = `${CSI}H`;
const ERASE_LINE_END = `${CSI}K`;
const ERASE_LINE = `${CSI}2K`;
const ERASE_DOWN = `${CSI}J`;
const up = (n: number) => (n > 0 ? `${CSI}${n}A` : '');

/** A terminal stream: a tty, or nothing to draw on. */
export function ttyOf(stream: NodeJS.WriteStream): WriteStream | undefined {
  return stream.isTTY ? (stream as WriteStream) : undefined;
}

/** The size to draw in (80x24 when the terminal does not say). */
export function termSize(tty: WriteStream): { width: number; height: number } {
  return { width: tty.columns || 80, height: tty.rows || 24 };
}

/** A full-screen view on the alternate screen: what was on the terminal is back after leave(). */
export class AltScreen {
  private on = false;

  constructor(private readonly tty: WriteStream) {}

  enter(): void {
    if (this.on) return;
    this.on = true;
    this.tty.write(ALT_SCREEN_ON + CURSOR_HIDE);
  }

  /** Replaces the screen's content with `lines` (each already cut to the width). */
  draw(lines: readonly string[]): void {
    this.tty.write(HOME + lines.map((l) => l + ERASE_LINE_END).join('\r\n') + ERASE_DOWN);
  }

  leave(): void {
    if (!this.on) return;
    this.on = false;
    this.tty.write(CURSOR_SHOW + ALT_SCREEN_OFF);
  }
}

/**
 * A frame drawn at the cursor and redrawn in place: it goes up over its previous lines. A
 * process killed meanwhile leaves its last frame on the terminal, like any progress output, and
 * the terminal as it was (nothing to restore).
 */
export class InPlaceFrame {
  private lines = 0;

  constructor(private readonly tty: WriteStream) {}

  /** The most lines a frame may have: one less than the terminal's, so it never scrolls itself off. */
  get maxHeight(): number {
    return termSize(this.tty).height - 1;
  }

  draw(lines: readonly string[]): void {
    this.tty.write('\r' + up(this.lines) + lines.map((l) => l + ERASE_LINE_END + '\n').join('') + ERASE_DOWN);
    this.lines = lines.length;
  }

  /**
   * Erases the frame, leaving the cursor where it started. A line at a time: an erase to the end
   * of the screen from its top line is a clear screen to tmux, which keeps the old content in
   * its history (scroll-on-clear).
   */
  clear(): void {
    if (!this.lines) return;
    this.tty.write('\r' + up(this.lines) + `${ERASE_LINE}${CSI}1B`.repeat(this.lines) + up(this.lines));
    this.lines = 0;
  }
}

/**
 * One line of progress on a terminal, rewritten as it changes. Output that goes to the same
 * terminal passes through print(), which takes the line away first and puts it back after, so
 * the two never mix; it writes whole lines only, holding an unfinished one until its end (or
 * done()). Without a terminal it shows nothing and print() just prints.
 */
export class ProgressLine {
  private text = '';
  private readonly tty: WriteStream | undefined;

  constructor(
    stream: NodeJS.WriteStream = process.stderr,
    /** Where print() writes (the command's output). */
    private readonly output: (s: string) => void = (s) => void process.stdout.write(s),
  ) {
    this.tty = ttyOf(stream);
  }

  get enabled(): boolean {
    return this.tty !== undefined;
  }

  set(text: string): void {
    if (!this.tty) return;
    this.text = text;
    this.show();
  }

  print(s: string): void {
    if (!this.tty) return this.output(s);
    // a line of output still open (`TEST: x ... ` before its `ok`) waits for its end, so that
    // the progress line can stay under the output meanwhile
    const text = this.held + s;
    const nl = text.lastIndexOf('\n') + 1;
    this.held = text.slice(nl);
    if (!nl) return;
    this.hide();
    this.output(text.slice(0, nl));
    this.show();
  }

  /** Takes the line away for good, and writes what output it held. */
  done(): void {
    this.hide();
    this.text = '';
    if (this.held) this.output(this.held);
    this.held = '';
  }

  private held = '';
  private shown = false;

  private hide(): void {
    if (this.shown) this.tty!.write('\r' + ERASE_LINE_END);
    this.shown = false;
  }

  private show(): void {
    if (!this.tty || !this.text) return;
    const width = termSize(this.tty).width - 1;
    const t = this.text.length > width ? this.text.slice(0, width) : this.text;
    this.tty.write('\r' + t + ERASE_LINE_END);
    this.shown = true;
  }
}
