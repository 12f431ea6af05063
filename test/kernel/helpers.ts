// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers of the kernel's tests (the ftrace tests use them too): event queries, guest arrays and
// the firmware's arithmetic on the host side. Booting is test/helpers.ts's.
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { LabEvent } from '../../src/kernel/events.ts';

export function switchesOn(k: Kernel, cpu: number): LabEvent[] {
  return k.log.events.filter((e) => e.type === 'sched_switch' && e.cpu === cpu);
}

/** Guest u64 array element. */
export function u64At(k: Kernel, sym: string, index: number): bigint {
  return k.mem.u64(k.sym(sym) + BigInt(8 * index));
}
export function s32At(k: Kernel, sym: string, index: number): number {
  return k.mem.s32(k.sym(sym) + BigInt(4 * index));
}

const M64 = (1n << 64n) - 1n;

/** The firmware's crunch_step() (workloads/kthreads.c), host side. */
export function crunchStep(x: bigint): bigint {
  x ^= (x << 13n) & M64;
  x ^= x >> 7n;
  x ^= (x << 17n) & M64;
  return x;
}

/** The firmware's cpu_hog loop, host side: x after `rounds` rounds of crunch(x, 64). */
export function crunchRounds(seed: bigint, id: number, rounds: number): bigint {
  let x = (seed + BigInt(id) + 1n) & M64;
  for (let r = 0; r < rounds; r++) for (let i = 0n; i < 64n; i++) x = (crunchStep(x) + i) & M64;
  return x;
}
