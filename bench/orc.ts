// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ORC unwinder benchmark: the reliable unwinder's speed over real task stacks (sampled from the
 * default workload at random stop points, so the mix is what livepatch would see), the block
 * lookup table against a plain binary search over the whole table, and the ground-truth check
 * over at least a million sampled task stacks (mismatches must be 0).
 *
 *   npx tsx bench/orc.ts            # or as part of npm run bench
 *   ORC_BENCH_STACKS=200000 ...     # fewer sampled stacks, for a quick look
 */
import { fileURLToPath } from 'node:url';
import { bootWithGroundTruth, sampleStacks, type SampleContext, type SampleStats } from '../src/orc/groundtruth/sampler.ts';
import { allTasks } from '../src/kernel/task.ts';
import { stackTraceSaveTskReliable } from '../src/orc/unwind.ts';

interface Timing {
  frames: number;
  walks: number;
  ms: number;
}

/** Re-unwinds every task of a stopped machine `reps` times, timing only the walks. */
function timeWalks(ctx: SampleContext, reps: number, acc: Timing, lookups: number[]): void {
  const { kernel, unwinder: u } = ctx;
  const offs = allTasks(kernel).map((t) => Number(t.address - kernel.mem.base));
  const cpus = offs.map((o) => u.runningOn(o));
  // the addresses the walks look up (for the lookup benchmark): every entry, as the unwinder asks
  for (let i = 0; i < offs.length; i++) {
    u.unwindTask(offs[i], 100, undefined, cpus[i]);
    for (let j = 0; j < u.count; j++) lookups.push(u.entries[j] - (u.exact[j] ? 0 : 1));
  }
  const t0 = performance.now();
  let frames = 0;
  for (let r = 0; r < reps; r++)
    for (let i = 0; i < offs.length; i++) {
      u.unwindTask(offs[i], 100, undefined, cpus[i]);
      frames += u.count;
    }
  acc.ms += performance.now() - t0;
  acc.frames += frames;
  acc.walks += reps * offs.length;
}

export async function runOrcBench(target = Number(process.env.ORC_BENCH_STACKS ?? 1_000_000)): Promise<string[]> {
  const { kernel, shadow, code } = await bootWithGroundTruth({ cpus: 4, workload: 'default', seed: 21, preempt: 'full' });
  const timing: Timing = { frames: 0, walks: 0, ms: 0 };
  const lookups: number[] = [];
  let api = { walks: 0, ms: 0 };
  const total: SampleStats[] = [];
  let stacks = 0;
  let seed = 1;
  const t0 = performance.now();
  kernel.runFor(100);
  while (stacks < target) {
    const s = sampleStacks(kernel, shadow, code, {
      samples: 2000,
      seed: seed++,
      maxRounds: 2,
      onSample: (ctx) => {
        if (ctx.sample % 40 === 0) timeWalks(ctx, 50, timing, lookups);
        if (ctx.sample % 400 === 0) {
          // the public API: start decision and bigint results included
          const tasks = allTasks(kernel);
          const a0 = performance.now();
          for (let r = 0; r < 20; r++) for (const t of tasks) stackTraceSaveTskReliable(kernel, t);
          api = { walks: api.walks + 20 * tasks.length, ms: api.ms + performance.now() - a0 };
        }
      },
    });
    total.push(s);
    stacks += s.taskStacks;
  }
  const wallS = (performance.now() - t0) / 1000;
  kernel.close();

  // lookups: the block table against a binary search over the whole table, same addresses
  const t = shadow.kernel === kernel ? (await import('../src/orc/unwind.ts')).imageOrcTable(kernel.image) : null;
  const delta = Number(t!.base - kernel.mem.base);
  const addrs = Int32Array.from(lookups.slice(0, 200_000), (a) => a - delta);
  const rounds = Math.max(1, Math.ceil(4_000_000 / addrs.length));
  let sink = 0;
  const time = (f: (o: number) => number) => {
    for (let i = 0; i < addrs.length; i++) sink += f(addrs[i]); // warm up
    const s0 = performance.now();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < addrs.length; i++) sink += f(addrs[i]);
    return (performance.now() - s0) / (rounds * addrs.length);
  };
  const fast = time((o) => t!.find(o)) * 1e6;
  const slow = time((o) => t!.findBinary(o)) * 1e6;
  void sink;

  const sum = (f: (s: SampleStats) => number) => total.reduce((a, s) => a + f(s), 0);
  const modes = ['strict', 'follow'] as const;
  const mismatches = sum((s) => modes.reduce((a, m) => a + s.modes[m].mismatches + s.modes[m].falseVerdicts, 0) + s.startMismatches);
  const stacksWithMismatch = mismatches; // each counted problem is one task stack in one mode
  const fps = timing.frames / (timing.ms / 1000);
  const reasons: Record<string, number> = {};
  for (const s of total) for (const [r, n] of Object.entries(s.modes.strict.unreliable)) reasons[r] = (reasons[r] ?? 0) + (n ?? 0);
  return [
    `orc: reliable unwinder on real sampled stacks (default workload, 4 vCPUs, preempt=full)`,
    `  ${(fps / 1e6).toFixed(2)} M frames/s, ${((timing.ms * 1e6) / timing.frames).toFixed(1)} ns/frame, ` +
      `${((timing.ms * 1e6) / timing.walks).toFixed(0)} ns/task (${(timing.frames / timing.walks).toFixed(1)} frames per task, ${timing.walks} walks)` +
      ` [target >= 5 M frames/s: ${fps >= 5e6 ? 'met' : 'NOT met'}]`,
    `  stackTraceSaveTskReliable() with start decision and bigint results: ${((api.ms * 1e3) / api.walks).toFixed(2)} us/task`,
    `  lookup: block table ${fast.toFixed(1)} ns, binary search over all ${t!.length} entries ${slow.toFixed(1)} ns: ` +
      `${(slow / fast).toFixed(2)}x faster (${addrs.length} real lookup addresses)`,
    `orc: ground truth, ${sum((s) => s.samples)} stop points, ${stacks} task stacks sampled, each unwound strict and following interrupt frames`,
    `  running ${sum((s) => s.running)}, user mode ${sum((s) => s.userMode)}, switched out ${sum((s) => s.switchedOut)}; ` +
      `caught at fentry ${sum((s) => s.caught.fentry)}, entry code ${sum((s) => s.caught.entry)}, mid-prologue ${sum((s) => s.caught.prologue)}, ` +
      `mid-epilogue ${sum((s) => s.caught.epilogue)}, interrupt frames ${sum((s) => s.caught.irqFrames)}`,
    `  strict: ${sum((s) => s.modes.strict.reliable)} reliable, unreliable ${JSON.stringify(reasons)}`,
    `  task stacks with mismatches: ${stacksWithMismatch} (reliable traces differing from the truth, or untrue unreliable verdicts)`,
    `  shadow stacks: ${total[total.length - 1].shadow.events} events, ${total[total.length - 1].shadow.anomalies} anomalies; ${wallS.toFixed(0)} s wall`,
    ...total.flatMap((s) => s.reports).slice(0, 6),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write((await runOrcBench()).join('\n') + '\n');
}
