// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPU hotplug driven by the host, as a write of 0 or 1 to /sys/devices/system/cpu/cpuN/online:
 * cpu_down() or cpu_up() (firmware/kernel/cpu.c) runs in khostd, in task context, and the call
 * returns once the cpu is parked or back online. A request the kernel would refuse is refused
 * here first, with a typed error and before any guest code runs, so it changes nothing.
 */
import { callGuest, type HostTask } from './hostcall.ts';
import { cpuOnline, perCpuAddress } from './task.ts';
import { errnoName } from '../elf/index.ts';
import type { Kernel } from './kernel.ts';

export type CpuHotplugState = 'up' | 'dying' | 'dead';

export class CpuHotplugError extends Error {
  constructor(
    readonly cpu: number,
    /** The errno the kernel would give: EINVAL, EPERM, EBUSY. */
    readonly errno: string,
    message: string,
  ) {
    super(`cpu ${cpu}: ${message} (${errno})`);
    this.name = 'CpuHotplugError';
  }
}

/** pcpu::hotplug_state: up (or booting), going down, or parked. */
export function cpuHotplugState(k: Kernel, cpu: number): CpuHotplugState {
  const L = k.layout;
  const v = k.mem.s32(perCpuAddress(k, cpu) + BigInt(L.offset('pcpu', 'hotplug_state')));
  if (v === L.constant('CPU_UP')) return 'up';
  if (v === L.constant('CPU_DYING')) return 'dying';
  if (v === L.constant('CPU_DEAD')) return 'dead';
  throw new Error(`cpu ${cpu}: hotplug_state ${v} is none of CPU_UP, CPU_DYING, CPU_DEAD`);
}

/**
 * A cpu_down() or cpu_up() is in progress (cpus_write_lock() is held): one whose host work
 * timed out goes on in the guest. Host work runs one item at a time in khostd, so the
 * transition work never sees a cpu half way down (what cpus_read_lock() gives the kernel).
 */
export function cpuHotplugBusy(k: Kernel): boolean {
  return k.mem.s32(k.sym('cpu_hotplug_busy')) !== 0;
}

function checkCpu(k: Kernel, cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= k.nrCpus)
    throw new CpuHotplugError(cpu, 'EINVAL', `no such cpu: the machine has cpus 0..${k.nrCpus - 1}`);
  if (cpuHotplugBusy(k)) throw new CpuHotplugError(cpu, 'EBUSY', 'another hotplug operation is in progress');
}

function* callHotplug(k: Kernel, fn: string, cpu: number): HostTask<number> {
  return Number(BigInt.asIntN(32, yield* callGuest(k.sym(fn), BigInt(cpu))));
}

function run(k: Kernel, fn: 'cpu_down' | 'cpu_up', cpu: number): void {
  const ret = k.host.run(`${fn} ${cpu}`, callHotplug(k, fn, cpu));
  if (ret) throw new CpuHotplugError(cpu, errnoName(ret), `${fn}() returned ${ret}`);
}

/** echo 0 > /sys/devices/system/cpu/cpuN/online: returns when the cpu is parked. */
export function cpuDown(k: Kernel, cpu: number): void {
  checkCpu(k, cpu);
  // it keeps jiffies and takes the host's doorbell (the kernel's cpu0 hotplug is opt-in too)
  if (cpu === 0) throw new CpuHotplugError(0, 'EPERM', 'the boot cpu cannot be taken offline');
  if (!cpuOnline(k, cpu)) throw new CpuHotplugError(cpu, 'EINVAL', 'already offline');
  run(k, 'cpu_down', cpu);
}

/** echo 1 > /sys/devices/system/cpu/cpuN/online: returns when the cpu is online again. */
export function cpuUp(k: Kernel, cpu: number): void {
  checkCpu(k, cpu);
  if (cpuHotplugState(k, cpu) !== 'dead') throw new CpuHotplugError(cpu, 'EINVAL', 'already online');
  run(k, 'cpu_up', cpu);
}
