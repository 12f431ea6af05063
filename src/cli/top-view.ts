// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The live view of a lab, as lines of text for a terminal of a given size: the vCPUs, the patch
 * in transition with its progress and blockers, and the tasks, the ones that matter to the
 * transition first. `klp-lab top` draws it from a running lab's status, `livepatch --live` from
 * its own lab's; both get the same picture of the same state (status.ts).
 *
 * It fits what it has: every line is cut to the width (a wrapped line would shift the frame),
 * and what does not fit in the height is counted ("... 12 more tasks") rather than scrolled,
 * blockers before the other tasks. An 80x24 terminal shows four vCPUs, the transition, its
 * blockers and a dozen tasks.
 */
import { table, type CpuStatus, type LabStatus, type TaskStatus } from '../lab/index.ts';

export interface ViewOptions {
  width: number;
  height: number;
  /** The first line's left part: what is being looked at. */
  title: string;
  /** The last line (keys, say); none if absent. */
  footer?: string;
  /** A line under the title (the step a session is at, say). */
  subtitle?: string;
}

/** What a running lab adds to its status. */
export interface RunningInfo {
  pace?: number | 'free';
  running?: boolean;
}

const NS_PER_S = 1e9;

/** Emulated seconds, as `12.345 s`. */
export function seconds(ns: number): string {
  return `${(ns / NS_PER_S).toFixed(3)} s`;
}

function cut(line: string, width: number): string {
  return line.length > width ? line.slice(0, Math.max(width - 1, 0)) + (width > 0 ? '>' : '') : line;
}

/** Left and right parts on one line of `width`; the left one is cut if they do not both fit. */
function spread(left: string, right: string, width: number): string {
  const room = width - right.length - 1;
  if (room < 8) return left;
  const l = left.length > room ? cut(left, room) : left;
  return l + ' '.repeat(width - l.length - right.length) + right;
}

function cpuLine(c: CpuStatus): string[] {
  const current = c.current ? `${c.current.comm}:${c.current.pid}` : '-';
  return [String(c.cpu), c.state, c.state === 'offline' ? '-' : current, c.state === 'running' ? c.rip : ''];
}

function cpuSummary(cpus: readonly CpuStatus[]): string {
  const count = (s: CpuStatus['state']) => cpus.filter((c) => c.state === s).length;
  const parts = [`${count('running')} running`, `${count('idle')} idle`, `${count('offline')} offline`];
  if (count('dead')) parts.push(`${count('dead')} dead`);
  return `${cpus.length} vCPUs: ${parts.join(', ')}`;
}

/** Blocked tasks first, then the others still to switch, then the rest, each group in list order. */
function taskOrder(t: TaskStatus): number {
  if (t.blocked !== undefined && t.blocked !== 'can switch now') return 0;
  if (t.pending || t.blocked !== undefined) return 1;
  return 2;
}

function taskLine(t: TaskStatus): string[] {
  const on = t.onCpu >= 0 ? `cpu${t.onCpu}` : '-';
  return [String(t.pid), t.comm, t.state, on, t.patchState, t.pending ? 'pending' : '', t.blocked ?? t.switchedOutAt ?? ''];
}

/** The view of `s` as at most opts.height lines of at most opts.width characters. */
export function renderStatus(s: LabStatus & RunningInfo, opts: ViewOptions): string[] {
  const { width, height } = opts;
  const head: string[] = [];
  const pace = s.pace === undefined ? '' : s.pace === 'free' ? 'pace free' : `pace ${s.pace}x`;
  const state = s.running === false ? 'stopped' : '';
  head.push(spread(opts.title, [state, pace, `emulated ${seconds(s.clockNs)}`].filter(Boolean).join('  '), width));
  if (opts.subtitle) head.push(opts.subtitle);
  const log = s.log;
  const logParts = [`log ${log.records} records`];
  if (log.dropped) logParts.push(`${log.dropped} dropped`);
  logParts.push(`${log.warnings} warnings`);
  if (log.oopses) logParts.push(`${log.oopses} oopses`);
  if (log.panics) logParts.push(`${log.panics} panics`);
  const patches = s.patches.length
    ? `patches: ${s.patches.map((p) => `${p.name}${p.transition ? '*' : ''}${p.enabled ? '' : ' (disabled)'}${p.forced ? ' (forced)' : ''}`).join(', ')}`
    : 'no patches';
  head.push(`${logParts.join(', ')}; ${patches}`);

  // the transition: what it is, how far it got, who blocks it
  const trans: string[] = [''];
  const t = s.transition;
  if (t) {
    const next = t.nextRetryNs !== null ? `, next pass in ${seconds(Math.max(t.nextRetryNs - s.clockNs, 0))}` : '';
    trans.push(`TRANSITION ${t.patch} -> ${t.target}`);
    trans.push(`  ${t.pending} of ${t.tasks} tasks pending, ${t.unfinishedPasses} unfinished passes${next}`);
    if (t.blockers.length) {
      trans.push(`BLOCKERS (${t.blockers.length})`);
      for (const b of t.blockers) trans.push(`  ${b.comm}:${b.pid}  ${b.why}`);
    } else trans.push('no task blocks it now');
  } else trans.push('no transition');

  // the vCPUs: each one if there is room, else a count and the busy ones
  const cpuRows = [['CPU', 'STATE', 'CURRENT', 'RIP'], ...s.cpus.map(cpuLine)];
  let cpus = ['', ...table(cpuRows)];
  const footer = opts.footer !== undefined ? [opts.footer] : [];
  const fixed = head.length + trans.length + footer.length + 2; // + the tasks' blank line and header
  const roomForCpus = height - fixed - 3; // keep a few task lines
  if (cpus.length > roomForCpus) {
    const busy = s.cpus.filter((c) => c.state === 'running');
    cpus = ['', cpuSummary(s.cpus), ...table([['CPU', 'STATE', 'CURRENT', 'RIP'], ...busy.map(cpuLine)]).slice(1)];
    cpus = cpus.slice(0, Math.max(roomForCpus, 2));
  }
  // trim the blockers if the transition does not fit either
  let transLines = trans;
  const roomForTrans = height - head.length - cpus.length - footer.length - 3;
  if (transLines.length > roomForTrans && roomForTrans >= 6) {
    // the blank line, the transition, its progress and BLOCKERS stay; the last line counts the rest
    const shown = roomForTrans - 5;
    transLines = [...transLines.slice(0, 4 + shown), `  ... ${transLines.length - 4 - shown} more`];
  }

  const tasks: string[] = [''];
  if (s.tasksError) tasks.push(`tasks: not listed this time (${s.tasksError})`);
  else {
    const sorted = s.tasks.map((x, i) => ({ x, i })).sort((a, b) => taskOrder(a.x) - taskOrder(b.x) || a.i - b.i);
    const rows = table([['PID', 'COMM', 'S', 'ON', 'PATCH', 'FLAG', 'SWITCH / WAITS IN'], ...sorted.map(({ x }) => taskLine(x))]);
    const room = height - head.length - cpus.length - transLines.length - footer.length - 1;
    if (rows.length <= room) tasks.push(...rows);
    else if (room >= 2) tasks.push(...rows.slice(0, room - 1), `... ${rows.length - room + 1} more tasks`);
  }
  const lines = [...head, ...cpus, ...transLines, ...tasks].slice(0, Math.max(height - footer.length, 0));
  return [...lines, ...footer].map((l) => cut(l, width));
}
