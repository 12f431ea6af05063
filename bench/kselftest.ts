// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel's livepatch selftest scripts, unmodified, through `klp-lab kselftest` with its
// default options: wall time of each kernel version's run of all its livepatch scripts, against
// the same scripts on the real Debian kernel booted in QEMU (software emulation) on a 2-core
// machine like this one, with the CPU time the run took (the lab and every command of the
// scripts) and the host's load, without which a wall time on a shared machine says little.
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { kernelTestModules, type KernelVersion } from '../src/lab/index.ts';

const BIN = fileURLToPath(new URL('../bin/klp-lab.mjs', import.meta.url));
/** The whole livepatch selftest run of that kernel in QEMU here, in seconds (the middle of the measured range). */
const QEMU_S: Record<KernelVersion, number> = { '6.1': 110, '6.12': 375 };
/** The target, a twentieth of QEMU's time (from the low end of its range), in seconds. */
const TARGET_S: Record<KernelVersion, number> = { '6.1': 6, '6.12': 15 };

/** bash's `times`, second line: the user and system CPU seconds of the shell's children. */
function childrenCpu(times: string): number {
  const line = times.trim().split('\n').at(-1) ?? '';
  return [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((s, m) => s + Number(m[1]) * 60 + Number(m[2]), 0);
}

export async function runKselftestBench(): Promise<string[]> {
  const lines = [
    `# klp-lab kselftest (every livepatch script of the version, default --pace and --jobs) vs the real kernel in QEMU; ${availableParallelism()} host cpus`,
  ];
  for (const v of ['6.1', '6.12'] as const) {
    kernelTestModules(v); // fetched and built before the clock starts
    const load = loadavg()[0];
    const t0 = performance.now();
    // through bash for its `times` (the CPU time of the command and of everything it started, on
    // fd 3); stderr on ours: on a terminal, the command's own progress line shows which script runs
    const r = spawnSync('bash', ['-c', '"$@"; s=$?; times >&3; exit $s', 'bash', process.execPath, BIN, 'kselftest', '--kernel', v], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    });
    const times = String(r.output[3] ?? '');
    const s = (performance.now() - t0) / 1000;
    const oks = (r.stdout.match(/^ok \d+ /gm) ?? []).length;
    const scripts = Number(/^1\.\.(\d+)$/m.exec(r.stdout)?.[1] ?? 0);
    const ratio = QEMU_S[v] / s;
    lines.push(
      `linux ${v}: ${s.toFixed(1)} s wall, ${childrenCpu(times).toFixed(1)} s CPU, for ${scripts} scripts (${oks} ok, status ${r.status}); ` +
        `QEMU ~${QEMU_S[v]} s: ${ratio.toFixed(1)}x faster (target ${TARGET_S[v]} s: ${s <= TARGET_S[v] ? 'met' : 'not met'}); ` +
        `load average ${load.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`,
    );
  }
  return lines;
}
