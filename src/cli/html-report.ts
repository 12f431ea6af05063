// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A session's report as one HTML file that works offline (its script, styles and data inline,
 * nothing fetched): the timeline of the session's trace (trace.ts: the same slices Perfetto
 * would show, zoomable), a row per task with its patch state over time, the tasks that keep a
 * transition from completing with their symbolized reliable stack traces and the code around
 * the blocking address (capstone, as the oops report disassembles), /sys/kernel/livepatch, and
 * the kernel log, each timestamp a link to that moment of the timeline.
 *
 * captureReport() takes what the page needs from a lab at the end of its session, so a caller
 * that closes its lab right after (a selftest) can still write the page later.
 */
import { writeFileSync } from 'node:fs';
import { disassemble, formatInsn } from '../emu/index.ts';
import type { Kernel, Symbolizer, Task } from '../kernel/index.ts';
import { allTasks } from '../kernel/index.ts';
import { orcUnwinder } from '../orc/index.ts';
import type { Lab } from '../lab/index.ts';
import { type LogLine, patchStates, type SysfsEntry, sysfsEntries, type TaskPatchState } from './livepatch.ts';
import { captureSession, chromeTrace, type TraceEvent, type TraceSession } from './trace.ts';
import { REPORT_SCRIPT, REPORT_STYLE } from './html-page.ts';

/** The code around a blocking address: the function's instructions, the call before the return address marked. */
export interface Disassembly {
  function: string;
  /** The return address that is inside the function (what the stack check found), hex. */
  address: string;
  lines: { address: string; text: string; mark: boolean }[];
}

/** A task that cannot switch now, as the report shows it. */
export interface StalledTask extends TaskPatchState {
  disassembly?: Disassembly;
}

export interface ReportSession {
  trace: TraceSession;
  log: LogLine[];
  sysfs: SysfsEntry[];
  transition: { patch: string; target: string } | null;
  tasks: TaskPatchState[];
  stalled: StalledTask[];
}

/** How many instructions the disassembly shows on each side of the blocking one. */
const AROUND = 10;

/**
 * The function holding the first return address of `task`'s stack that lies in `func` (the one
 * the check found it sleeping on), else its innermost frame, disassembled from guest memory.
 */
function blockingCode(k: Kernel, lab: Lab, task: Task, func: string | undefined, sym: Symbolizer): Disassembly | undefined {
  const trace = orcUnwinder(k).trace(task, 100);
  const find = (a: bigint) => {
    const img = k.image.symbolAt(a);
    if (img) return { name: img.name, start: img.value, size: Number(img.size) };
    const m = lab.modules.moduleAt(a)?.functionAt(a);
    return m && { name: m.name, start: m.address, size: m.size };
  };
  let at: bigint | undefined;
  for (let i = 0; i < trace.entries.length && at === undefined; i++) {
    const ret = trace.entries[i];
    const fn = find(trace.exact[i] ? ret : ret - 1n);
    if (fn && (func === undefined || fn.name === func)) at = ret;
  }
  at ??= trace.entries[0];
  if (at === undefined) return undefined;
  const fn = find(at - 1n);
  if (!fn || !k.mem.contains(fn.start, fn.size)) return undefined;
  const insns = disassemble(k.mem.bytes(fn.start, fn.size), fn.start);
  // the call that the return address follows
  const hit = insns.findIndex((i) => at! > i.address && at! <= i.address + BigInt(i.size));
  const from = Math.max(0, hit - AROUND);
  return {
    function: fn.name,
    address: `0x${at.toString(16)}`,
    lines: insns.slice(from, hit + AROUND + 1).map((i, n) => ({
      address: sym.symbolize(i.address).split('/')[0],
      text: formatInsn(i),
      mark: from + n === hit,
    })),
  };
}

/** What the report of a lab's session needs, taken now. */
export function captureReport(lab: Lab, name: string): ReportSession {
  const k = lab.k;
  const sym = lab.modules.symbolizer;
  const tasks = patchStates(lab);
  const byPid = new Map(allTasks(k).map((t) => [`${t.pid}/${t.comm}`, t]));
  const stalled: StalledTask[] = tasks
    .filter((t) => t.stack)
    .map((t) => {
      const task = byPid.get(`${t.pid}/${t.comm}`);
      const func = t.blocked?.startsWith('sleeping on function ') ? t.blocked.slice('sleeping on function '.length) : undefined;
      return { ...t, disassembly: task && blockingCode(k, lab, task, func, sym) };
    });
  const tp = lab.lp.transitionPatch;
  return {
    trace: captureSession(k, name, sym),
    log: k.log.events.filter((e) => e.type === 'printk').map((e) => ({ tsNs: e.tsNs, level: e.a, text: e.text })),
    sysfs: sysfsEntries(lab.lp),
    transition: tp ? { patch: tp.name, target: lab.lp.targetState === 1 ? 'patched' : 'unpatched' } : null,
    tasks,
    stalled,
  };
}

/** A kernel without livepatch (`boot`): the timeline and the log only. */
export function captureKernelReport(k: Kernel, name: string): ReportSession {
  return {
    trace: captureSession(k, name),
    log: k.log.events.filter((e) => e.type === 'printk').map((e) => ({ tsNs: e.tsNs, level: e.a, text: e.text })),
    sysfs: [],
    transition: null,
    tasks: [],
    stalled: [],
  };
}

/** The data the page draws: per session, its report and its trace's slices. */
function pageData(sessions: readonly ReportSession[]) {
  return sessions.map((s) => {
    const { traceEvents } = chromeTrace([s.trace]);
    const { events: _events, switchPoints: _sp, userIps: _ui, vectors: _v, syscalls: _sc, ...trace } = s.trace;
    return {
      ...s,
      trace,
      // only what the page draws: the slices, the instants, the counter and the names (of a
      // task's user/kernel track, its time in user mode)
      events: traceEvents.filter(
        (e: TraceEvent) =>
          e.ph !== 's' && e.ph !== 'f' && !(e.ph === 'i' && e.cat === 'printk') && !(e.cat === 'entry' && e.name !== 'user'),
      ),
    };
  });
}

/** JSON inside a <script> element: nothing in it can close the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The page: one file, no network. */
export function reportHtml(sessions: readonly ReportSession[], title = 'klp-lab session'): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${REPORT_STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><select id="session" aria-label="session"></select><span id="summary"></span></header>
<main>
<section id="timeline-section"><h2>Timeline <small>(wheel: zoom, drag: pan)</small></h2>
<div class="toolbar"><button id="fit">fit</button><button id="zoom-in">+</button><button id="zoom-out">&minus;</button><span id="range"></span></div>
<div id="timeline"><canvas id="canvas"></canvas><div id="tip" hidden></div></div>
<div class="legend"><span class="unpatched">unpatched</span><span class="pending">pending</span><span class="patched">patched</span><span class="blocked">blocked verdict</span><span class="running">running</span><span class="user">user mode</span><span class="irq">interrupt</span></div>
</section>
<section id="stalled"><h2>Tasks blocking the transition</h2><div id="stalled-body"></div></section>
<section id="tasks"><h2>Patch states at the end</h2><div id="tasks-body"></div></section>
<section id="sysfs"><h2>/sys/kernel/livepatch</h2><pre id="sysfs-body"></pre></section>
<section id="log"><h2>Kernel log</h2><div id="log-body"></div></section>
</main>
<script type="application/json" id="klp-data">${scriptJson(pageData(sessions))}</script>
<script>${REPORT_SCRIPT}</script>
</body>
</html>
`;
}

/** Writes the sessions' report to `file`. */
export function writeReport(file: string, sessions: readonly ReportSession[], title?: string): void {
  writeFileSync(file, reportHtml(sessions, title));
}
