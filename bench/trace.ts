// SPDX-License-Identifier: GPL-2.0-or-later
// What --trace and --html cost: the README's livepatch session (boot, six steps) in this
// process, as `klp-lab livepatch` runs it, without and with the files written at its end,
// alternated so that a busy machine slows both alike. The scheduler's and livepatch's records
// are in the log in both runs (the log always keeps them); the entry records (interrupts,
// system calls, returns to user mode) only in the runs that write a file, which boot with
// traceEntry as the CLI does, so their cost is part of the figures.
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
const ROUNDS = 5;

async function session(out: 'none' | 'trace' | 'html', dir: string): Promise<number> {
  const t0 = performance.now();
  const lab = await Lab.boot({ cpus: 4, workload: 'default', traceEntry: out !== 'none' });
  try {
    lab.dynamicDebug.write('file kernel/livepatch/* +p');
    for (const s of STEPS) runStep(lab, parseStep(s));
    if (out === 'trace') writeTrace(join(dir, 't.json'), [captureSession(lab.k, '', lab.modules.symbolizer)]);
    if (out === 'html') writeReport(join(dir, 'r.html'), [captureReport(lab, '')]);
  } finally {
    lab.close();
  }
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runTraceBench(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'klp-trace-bench-'));
  try {
    await session('none', dir); // a first boot loads capstone and keystone: not part of either figure
    const ms = { none: [] as number[], trace: [] as number[], html: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) for (const k of ['none', 'trace', 'html'] as const) ms[k].push(await session(k, dir));
    const [n, t, h] = [median(ms.none), median(ms.trace), median(ms.html)];
    return [
      "# --trace and --html: the README's livepatch session, host ms (median of 5, alternated)",
      `plain ${n.toFixed(0)} ms, --trace ${t.toFixed(0)} ms (${(t / n).toFixed(3)}x, target < 1.2x), --html ${h.toFixed(0)} ms (${(h / n).toFixed(3)}x)`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
