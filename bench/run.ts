// SPDX-License-Identifier: GPL-2.0-or-later
// npm run bench: every benchmark of the lab, printed as figures and ratios.
import { existsSync } from 'node:fs';
import { bootTime, throughput } from './machine.ts';
import { runLivepatchBench } from './livepatch.ts';
import { runKselftestBench } from './kselftest.ts';
import { runTraceBench } from './trace.ts';

const sections: Array<() => Promise<string[]>> = [bootTime, throughput];
const orc = new URL('./orc.ts', import.meta.url).href;
if (existsSync(new URL(orc))) {
  const { runOrcBench } = (await import(orc)) as { runOrcBench: () => Promise<string[]> };
  sections.push(runOrcBench);
}
sections.push(runLivepatchBench, runTraceBench, runKselftestBench);
for (const s of sections) process.stdout.write((await s()).join('\n') + '\n\n');
