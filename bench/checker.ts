// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The consistency checker's cost (src/lab/checker.ts): host time of the same run with the
 * checker attached and without, as a ratio (target: under 1.2x, so that it can be on in every
 * test and every explored schedule). Runs alternate with and without, on freshly booted labs,
 * and the median of each is compared:
 *   - getpid: user tasks hammering a patched getpid() on every cpu through a patching and an
 *     unpatching transition (the most calls of patched code per emulated second the lab has);
 *   - default: the default workload (deep sleepers, user tasks, a forker) with a patch loaded
 *     and read, a patch that stalls on sleeping kthreads forced in and out, the first disabled.
 *
 *   npx tsx bench/checker.ts        # or as part of npm run bench
 */
import { Lab } from '../src/lab/selftest.ts';
import { attachChecker } from '../src/lab/checker.ts';

export const CHECKER_TARGET = 1.2;

interface Session {
  name: string;
  boot: Parameters<typeof Lab.boot>[0];
  run(lab: Lab): void;
}

const SESSIONS: Session[] = [
  {
    name: 'getpid under a patching and an unpatching transition, 4 vCPUs, 3 emulated s',
    boot: { cpus: 4, workload: 'getpid', seed: 1 },
    run(lab) {
      lab.k.runFor(200);
      lab.loadLp('test_klp_syscall');
      lab.k.runFor(1000);
      lab.disableLp('test_klp_syscall');
      lab.k.runFor(1000);
    },
  },
  {
    name: 'default workload: load, read, a stalling patch forced in and out, disable, 4 vCPUs',
    boot: { cpus: 4, workload: 'default', seed: 1 },
    run(lab) {
      lab.k.runFor(200);
      lab.loadLp('test_klp_livepatch');
      lab.cat('cmdline_proc_show');
      lab.loadLpNowait('test_klp_deep');
      for (const enabled of ['1', '0']) {
        // the kdeep threads keep deep_c() on their stacks either way: forced
        if (enabled === '0') lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/enabled', '0');
        lab.k.runFor(500);
        lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/force', '1');
        lab.waitForTransition('test_klp_deep');
      }
      lab.disableLp('test_klp_livepatch');
      lab.k.runFor(500);
    },
  },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Host ms of one session on a fresh lab (boot excluded), and what the checker saw. */
async function timeOne(s: Session, checked: boolean): Promise<{ ms: number; entries: number }> {
  const lab = await Lab.boot(s.boot);
  try {
    const c = checked ? attachChecker(lab) : undefined;
    const t0 = performance.now();
    s.run(lab);
    const v = c?.finish();
    const ms = performance.now() - t0;
    if (v) throw new Error(`the checker found a violation in the benchmark's run: ${v.kind}: ${v.message}`);
    const entries = c?.seen.entries ?? 0;
    c?.detach();
    return { ms, entries };
  } finally {
    lab.close();
  }
}

export async function runCheckerBench(rounds = 5): Promise<string[]> {
  const out = ['Consistency checker: host time of a run with it / without it (target < 1.2x)'];
  for (const s of SESSIONS) {
    await timeOne(s, false); // warm up: the first boot of a process disassembles the image
    const plain: number[] = [];
    const checked: number[] = [];
    let entries = 0;
    for (let i = 0; i < rounds; i++) {
      plain.push((await timeOne(s, false)).ms);
      const r = await timeOne(s, true);
      checked.push(r.ms);
      entries = r.entries;
    }
    const ratio = median(checked) / median(plain);
    out.push(
      `  ${s.name}: ${median(plain).toFixed(0)} ms without, ${median(checked).toFixed(0)} ms with ` +
        `(${entries.toLocaleString('en-US')} entries judged): ${ratio.toFixed(3)}x, target ${ratio < CHECKER_TARGET ? 'met' : 'NOT met'}`,
    );
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write((await runCheckerBench()).join('\n') + '\n');
