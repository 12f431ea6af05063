// SPDX-License-Identifier: GPL-2.0-or-later
// What checkpoints save reverse execution (src/gdb/checkpoints.ts): Debian's gdb against
// `klp-lab boot --gdb` on a run of 4 busy vCPUs, stopped by a watchpoint on jiffies at the
// 300th tick (3 emulated s in), then `reverse-continue` back to the tick before: timed in gdb,
// with every replay from boot (--gdb-checkpoints 0) and with the default checkpoints.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CHECKPOINT_INSNS } from '../src/gdb/index.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = `${ROOT}bin/klp-lab.mjs`;
const TIMING =
  'import time; t = time.time(); gdb.execute("reverse-continue", to_string=True); ' + 'print("REVERSE %.3f" % (time.time() - t))';

/** Seconds reverse-continue took, and what `monitor position` said of its cost. */
function reverseContinue(checkpoints: number): Promise<{ s: number; cost: string }> {
  return new Promise((resolve, reject) => {
    const args = ['boot', '--cpus', '4', '--workload', 'default', '--ms', '3100', '--gdb', '0', '--gdb-checkpoints', String(checkpoints)];
    const lab = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let out = '';
    lab.stderr.on('data', (d) => {
      err += d;
      const m = /waiting for gdb on ([\d.]+:\d+)/.exec(err);
      if (!m || out) return;
      out = ' ';
      const gdb = spawn('gdb', [
        '-batch',
        '-nx',
        '-x',
        `${ROOT}gdb/klp-lab.py`,
        '-ex',
        'set remotetimeout 600',
        '-ex',
        `klp-lab-connect ${m[1]}`,
        '-ex',
        'watch *(long *)&jiffies',
        '-ex',
        'python [gdb.execute("continue", to_string=True) for i in range(300)]',
        '-ex',
        `python ${TIMING}`,
        '-ex',
        'monitor position',
        '-ex',
        'detach',
      ]);
      gdb.stdout.on('data', (d) => (out += d));
      gdb.stderr.on('data', (d) => (out += d));
      gdb.on('exit', () => {
        const s = /REVERSE ([\d.]+)/.exec(out);
        const cost = /re-ran .*/.exec(out);
        if (!s || !cost) reject(new Error(`gdb said: ${out}`));
        else resolve({ s: Number(s[1]), cost: cost[0] });
      });
    });
    lab.on('error', reject);
  });
}

export async function runGdbBench(): Promise<string[]> {
  if (spawnSync('gdb', ['--version']).status !== 0) return ['gdb: not installed, skipped'];
  const none = await reverseContinue(0);
  const some = await reverseContinue(CHECKPOINT_INSNS);
  return [
    'reverse-continue from the 300th tick to the one before (boot --cpus 4 --workload default, 3.1 emulated s)',
    `  every replay from boot:            ${none.s.toFixed(2)} s (${none.cost})`,
    `  checkpoints every ${CHECKPOINT_INSNS} insns: ${some.s.toFixed(2)} s (${some.cost})`,
    `  ratio ${(none.s / some.s).toFixed(1)}x`,
  ];
}
