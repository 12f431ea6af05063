// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel's livepatch selftest scripts, unmodified, through `klp-lab kselftest`: wall time of
// each kernel version's run of the scripts the lab passes, against the same scripts on the real
// Debian kernel booted in QEMU (software emulation) on a 2-core machine like this one.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kernelTestModules, type KernelVersion } from '../src/lab/index.ts';

const BIN = fileURLToPath(new URL('../bin/klp-lab.mjs', import.meta.url));
/** The scripts that pass on the lab for both versions (README says why the others do not yet). */
const PASSING = ['test-callbacks.sh', 'test-ftrace.sh', 'test-livepatch.sh', 'test-shadow-vars.sh', 'test-state.sh', 'test-sysfs.sh'];
/** The whole livepatch selftest run of that kernel in QEMU here, in seconds (the middle of the measured range). */
const QEMU_S: Record<KernelVersion, number> = { '6.1': 110, '6.12': 375 };

export async function runKselftestBench(): Promise<string[]> {
  const lines = ['# klp-lab kselftest (the passing scripts, each on a fresh lab) vs the real kernel in QEMU'];
  for (const v of ['6.1', '6.12'] as const) {
    kernelTestModules(v); // fetched and built before the clock starts
    const t0 = performance.now();
    // stderr on ours: on a terminal, the command's own progress line shows which script runs
    const r = spawnSync(process.execPath, [BIN, 'kselftest', '--kernel', v, ...PASSING], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const s = (performance.now() - t0) / 1000;
    const oks = (r.stdout.match(/^ok \d+ /gm) ?? []).length;
    lines.push(
      `linux ${v}: ${s.toFixed(1)} s for ${PASSING.length} scripts (${oks} ok, status ${r.status}); QEMU ~${QEMU_S[v]} s for all: ${(QEMU_S[v] / s).toFixed(1)}x faster`,
    );
  }
  return lines;
}
