// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --trace FILE and --html FILE, as every command that runs a session takes them (boot,
 * livepatch, selftest, replay): the session's timeline and its report, written whether the run
 * succeeded or not -- a failed or violating run is the one worth looking at.
 *
 * A session that writes either boots with BootOptions.traceEntry, so that its timeline has the
 * interrupts and the user/kernel transitions. `replay` does not: its run must be the recorded
 * one, bit for bit, and those records would move its interleavings.
 */
import { writeTrace } from './trace.ts';
import { type ReportSession, writeReport } from './html-report.ts';
import type { OutputFlags } from './options.ts';

/** Whether the session records its interrupts and user/kernel transitions (BootOptions.traceEntry). */
export const tracesEntry = (flags: OutputFlags): boolean => Boolean(flags.trace || flags.html);

/** Writes the files the flags ask for; `sessions` is only called when one is asked for. */
export function writeSessionFiles(flags: OutputFlags, sessions: () => ReportSession[], title: string): void {
  if (!flags.trace && !flags.html) return;
  const s = sessions();
  if (flags.trace)
    writeTrace(
      flags.trace,
      s.map((r) => r.trace),
    );
  if (flags.html) writeReport(flags.html, s, title);
}
