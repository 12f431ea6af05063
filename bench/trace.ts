// SPDX-License-Identifier: GPL-2.0-or-later
// What --trace and --html cost: the README's livepatch session (boot, six steps) in this
// process, as `klp-lab livepatch` runs it, plain and recorded, alternated so that a busy
// machine slows both alike. Recording is what a traced session does while it runs: the
// scheduler's and livepatch's records are in the log in both runs (the log always keeps
// them); the entry records (interrupts, system calls, returns to user mode) only in the
// recorded one, which boots with traceEntry as the CLI does for --trace and --html, so the
// guest writes them and the host drains them. Writing the files at the end (decoding the
// log, building the timeline or the report, serialising, writing) is timed on its own, after
// the session, and added for the end-to-end figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../src/lab/index.ts';
import { parseStep, runStep } from '../src/lab/steps.ts';
import { captureSession, writeTrace } from '../src/cli/trace.ts';
import { captureReport, writeReport } from '../src/cli/html-report.ts';

const STEPS = [
  'load:test_klp_livepatch',
  'cat:cmdline_proc_show',
  'insmod:test_klp_deep',
  'run:3000',
  'force:test_klp_deep',
  'wait:test_klp_deep',
];
const ROUNDS = 7;

interface Times {
  /** boot and the steps, every record drained into the log */
  run: number;
  /** writing the trace, then the report, of the same session */
  trace: number;
  html: number;
}

async function session(recorded: boolean, dir: string): Promise<Times> {
  const t0 = performance.now();
  const lab = await Lab.boot({ cpus: 4, workload: 'default', traceEntry: recorded });
  try {
    lab.dynamicDebug.write('file kernel/livepatch/* +p');
    for (const s of STEPS) runStep(lab, parseStep(s));
    lab.k.log.drain();
    const t1 = performance.now();
    if (!recorded) return { run: t1 - t0, trace: 0, html: 0 };
    writeTrace(join(dir, 't.json'), [captureSession(lab.k, '', lab.modules.symbolizer)]);
    const t2 = performance.now();
    writeReport(join(dir, 'r.html'), [captureReport(lab, '')]);
    return { run: t1 - t0, trace: t2 - t1, html: performance.now() - t2 };
  } finally {
    lab.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runTraceBench(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'klp-trace-bench-'));
  try {
    // first boots load capstone and keystone and warm the JIT: not part of either figure
    await session(false, dir);
    await session(true, dir);
    const plain: Times[] = [];
    const rec: Times[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      plain.push(await session(false, dir));
      rec.push(await session(true, dir));
    }
    const n = median(plain.map((t) => t.run));
    const r = median(rec.map((t) => t.run));
    const t = median(rec.map((x) => x.run + x.trace));
    const h = median(rec.map((x) => x.run + x.html));
    const wt = median(rec.map((x) => x.trace));
    const wh = median(rec.map((x) => x.html));
    const x = (v: number) => `${(v / n).toFixed(3)}x`;
    return [
      `# --trace and --html: the README's livepatch session, host ms (median of ${ROUNDS}, alternated)`,
      `plain ${n.toFixed(0)} ms, recorded ${r.toFixed(0)} ms (${x(r)}, target < 1.2x)`,
      `writing the trace ${wt.toFixed(0)} ms, the report ${wh.toFixed(0)} ms; end to end: --trace ${t.toFixed(0)} ms (${x(t)}), --html ${h.toFixed(0)} ms (${x(h)})`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
