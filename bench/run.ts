// SPDX-License-Identifier: GPL-2.0-or-later
// npm run bench [NAME...]: every benchmark of the lab (or the named ones: boot, throughput, orc,
// livepatch, trace, gdb, checker, kselftest, explore), printed as figures and ratios. On a terminal, a line on stderr says
// which one runs and for how long (the whole run takes minutes).
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { bootTime, throughput } from './machine.ts';
import { runLivepatchBench } from './livepatch.ts';
import { runKselftestBench } from './kselftest.ts';
import { runCheckerBench } from './checker.ts';
import { runExploreBench } from './explore.ts';
import { ProgressLine } from '../src/cli/terminal.ts';
import { runTraceBench } from './trace.ts';
import { runGdbBench } from './gdb.ts';

let sections: Array<[string, () => Promise<string[]>]> = [
  ['boot', bootTime],
  ['throughput', throughput],
];
const orc = new URL('./orc.ts', import.meta.url).href;
if (existsSync(new URL(orc))) {
  const { runOrcBench } = (await import(orc)) as { runOrcBench: () => Promise<string[]> };
  sections.push(['orc', runOrcBench]);
}
sections.push(
  ['livepatch', runLivepatchBench],
  ['trace', runTraceBench],
  ['gdb', runGdbBench],
  ['checker', () => runCheckerBench()],
  ['kselftest', runKselftestBench],
  ['explore', runExploreBench],
);
const names = process.argv.slice(2);
const unknown = names.filter((n) => !sections.some(([s]) => s === n));
if (unknown.length) {
  process.stderr.write(`bench: no benchmark ${unknown.join(', ')}; they are ${sections.map(([s]) => s).join(', ')}\n`);
  process.exit(2);
}
if (names.length) sections = sections.filter(([s]) => names.includes(s));
const progress = new ProgressLine();
const t0 = performance.now();
for (const [i, [name, run]] of sections.entries()) {
  const start = performance.now();
  const show = () =>
    progress.set(
      `bench ${i + 1}/${sections.length} ${name}: ${((performance.now() - start) / 1000).toFixed(0)} s (all: ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
  show();
  // the benchmarks that wait for a child process let this tick; the others show their start
  const tick = setInterval(show, 1000);
  try {
    progress.print((await run()).join('\n') + '\n\n');
  } finally {
    clearInterval(tick);
  }
}
progress.done();
