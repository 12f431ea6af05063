// SPDX-License-Identifier: GPL-2.0-or-later
// Shared by the ftrace tests: guest counters of the probe workload and of the test handler,
// and an ops on the firmware's ftrace_test_handler.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFile } from '../../src/elf/index.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { type Ftrace, FtraceOps, ftraceSetFilterIp, registerFtraceFunction, type FtraceOpsOptions } from '../../src/ftrace/index.ts';

export function cpus(k: Kernel): number[] {
  return Array.from({ length: k.nrCpus }, (_, i) => i);
}

/** ftrace_test_handler's calls per cpu. */
export function hits(k: Kernel): bigint[] {
  return cpus(k).map((c) => k.readArray('ftrace_test_hits', c, 8));
}

/** What lab_probe() last returned on each cpu. */
export function probeSeen(k: Kernel): number[] {
  return cpus(k).map((c) => k.mem.s32(k.sym('probe_seen') + BigInt(4 * c)));
}

export function probeCalls(k: Kernel): bigint[] {
  return cpus(k).map((c) => k.readArray('probe_calls', c, 8));
}

export function sum(xs: bigint[]): bigint {
  return xs.reduce((a, b) => a + b, 0n);
}

/** An ops calling ftrace_test_handler for the function `target`, registered. */
export function traceWithTestHandler(ft: Ftrace, target: string, opts: Partial<FtraceOpsOptions> = {}): FtraceOps {
  const ops = new FtraceOps({ func: 'ftrace_test_handler', ...opts });
  ftraceSetFilterIp(ft, ops, ft.kernel.sym(target));
  registerFtraceFunction(ft, ops);
  return ops;
}

const snapshots = new WeakMap<Kernel, Buffer>();

/**
 * A copy of all of guest RAM, to show that a failed operation changed no byte. One buffer per
 * kernel, reused (a fresh 64 MiB allocation costs its page faults on every copy): take one,
 * compare with ramUnchanged().
 */
export function ramSnapshot(k: Kernel): void {
  let b = snapshots.get(k);
  if (!b) snapshots.set(k, (b = Buffer.alloc(k.mem.size)));
  k.mem.buffer.copy(b);
}

export function ramUnchanged(k: Kernel): boolean {
  return snapshots.get(k)!.equals(k.mem.buffer);
}

/** Emulated instructions per probe_thread loop iteration over the next `ms` emulated ms. */
export function insnsPerProbeCall(k: Kernel, ms: number): number {
  const c0 = sum(probeCalls(k));
  const i0 = k.machine.insns;
  k.runFor(ms);
  return Number(k.machine.insns - i0) / Number(sum(probeCalls(k)) - c0);
}

/** The firmware Makefile's flags for loadable modules (MCFLAGS), minus the include paths. */
const MODULE_CFLAGS = (
  '-O2 -std=gnu11 -ffreestanding -nostdinc -fno-pic -fno-pie -mcmodel=kernel -mno-red-zone -fno-stack-protector ' +
  '-fno-stack-clash-protection -fcf-protection=none -mno-sse -mno-mmx -mno-sse2 -mno-avx -mno-80387 ' +
  '-mno-fp-ret-in-387 -mskip-rax-setup -mpreferred-stack-boundary=3 -fno-asynchronous-unwind-tables ' +
  '-fno-unwind-tables -fno-common -flive-patching=inline-only-static -pg -mfentry -mrecord-mcount -mnop-mcount ' +
  '-ffunction-sections -fdata-sections -DMODULE'
).split(' ');

/** Compiles a C module the way the firmware's modules are compiled; returns its object. */
export function compileModule(source: string): ElfFile {
  const dir = mkdtempSync(join(tmpdir(), 'ftrace-mod-'));
  try {
    writeFileSync(join(dir, 'm.c'), source);
    execFileSync('gcc', [...MODULE_CFLAGS, '-c', '-o', join(dir, 'm.o'), join(dir, 'm.c')]);
    return ElfFile.read(join(dir, 'm.o'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
