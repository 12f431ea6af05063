// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Machine benchmarks: emulated instructions per host second on the default 4-vCPU workload,
 * against the same run's time inside the engines (the native quantum runner, klp_run: Unicorn
 * plus in-C interrupt delivery), and boot-to-all-tasks-running for 4 vCPUs.
 */
import { bootKernel } from '../src/kernel/boot.ts';
import type { Kernel } from '../src/kernel/kernel.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function throughput(repeats = 3, emulatedMs = 20_000): Promise<string[]> {
  const mips: number[] = [];
  const engineMips: number[] = [];
  const ratios: number[] = [];
  let quantum = 0;
  for (let i = 0; i < repeats; i++) {
    const k = await bootKernel({ cpus: 4, workload: 'default', seed: 1 });
    quantum = k.machine.quantum;
    k.runFor(1000); // boot and first translations
    const r = k.runFor(emulatedMs);
    mips.push(Number(r.insns) / (r.totalMs * 1e3));
    engineMips.push(Number(r.insns) / (r.engineMs * 1e3));
    ratios.push(r.engineMs / r.totalMs);
    k.close();
  }
  return [
    `machine: default workload, 4 vCPUs, ${emulatedMs / 1000} s emulated, median of ${repeats}`,
    `  quantum ${quantum} instructions per vCPU per round, ended by the native block hook at the first block boundary past the budget`,
    `  ${median(mips).toFixed(1)} M emulated instructions per host second (all host work)`,
    `  ${median(engineMips).toFixed(1)} M instructions per second inside the engines (klp_run: Unicorn + interrupt delivery in C)`,
    `  ratio machine/engines ${median(ratios).toFixed(3)} (target >= 0.95; runs: ${ratios.map((x) => x.toFixed(3)).join(' ')})`,
  ];
}

/** Every task on the task list has run at least once (been switched in, or is current). */
function allTasksRan(k: Kernel, expected: number): boolean {
  const tasks = [...k.forEachTask()];
  if (tasks.length < expected) return false;
  const ran = new Set(k.log.events.filter((e) => e.type === 'sched_switch').map((e) => e.b));
  return tasks.every((t) => ran.has(t.pid) || t.currentOn() >= 0);
}

export async function bootTime(repeats = 5): Promise<string[]> {
  const host: number[] = [];
  const emulated: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const k = await bootKernel({ cpus: 4, workload: 'default', seed: 1 });
    // the default workload: khostd, 4 kdeep, kwaker, kparked, 2 khog, init, 2 uhammer, uping, upong, ucatch, usignal, ufork
    const r = k.run({ ns: 10e9, until: () => allTasksRan(k, 17) });
    if (!r.untilMet) throw new Error('the default workload did not get all its tasks running');
    host.push(performance.now() - t0);
    emulated.push(k.machine.clockNs / 1e6);
    k.close();
  }
  return [
    `boot to all tasks running, 4 vCPUs, default workload (median of ${repeats}):`,
    `  ${median(host).toFixed(1)} ms host (bootKernel included; first boot of a process also disassembles the image: ${host[0].toFixed(1)} ms), ${median(emulated).toFixed(1)} ms emulated`,
  ];
}
