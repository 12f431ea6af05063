// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The boot loader and platform: create the machine, load the image's segments into RAM, fill
 * boot_params, wire the firmware's I/O ports (power off, panic, IPIs, cpu online/dead/startup) and its
 * pvclock, and start every vCPU at the entry point with its cpu number in %rdi.
 */
import { loadAssembler, Machine } from '../emu/index.ts';
import { fileURLToPath } from 'node:url';
import { KernelImage } from './image.ts';
import { enableJumpLabels } from './jump-label.ts';
import { Kernel } from './kernel.ts';

export const DEFAULT_IMAGE = fileURLToPath(new URL('../../fixtures/kernel.elf', import.meta.url));

export interface BootOptions {
  image?: string;
  cpus?: number;
  ramMiB?: number;
  seed?: bigint | number;
  /** Instructions per vCPU per round. */
  quantum?: number;
  nsPerInsn?: number;
  hz?: number;
  /** 'none': tasks switch only at cond_resched() and on return to user mode; 'full': also on interrupt return. */
  preempt?: 'none' | 'full';
  workload?: string;
  nrUser?: number;
  nrKthreads?: number;
  /** Top of RAM the host manages (modules, livepatch structures), MiB. */
  hostMiB?: number;
  /**
   * Behaviour the kernel has since fixed, brought back to show what the fix prevents: names of
   * the image's KLP_QUIRK_* constants (e.g. 'KLP_QUIRK_FORK_RACE_747F7A29').
   */
  quirks?: readonly string[];
  /** Entries the host's kernel log keeps (the most recent; counters and digest cover all). */
  logCapacity?: number;
  /**
   * Record interrupt entry and exit, system call entry and exit and each return to user mode
   * in the event log (a traced session: src/cli/trace.ts draws them). Off by default: they are
   * guest instructions, so a run with them interleaves differently from one without.
   */
  traceEntry?: boolean;
}

export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

/** Workload names the image offers ('default', 'cpu-bound', ...), from its layout. */
export function workloads(image: KernelImage): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, v] of image.layout.constants('WORKLOAD_')) out.set(name.slice(9).toLowerCase().replace(/_/g, '-'), v);
  return out;
}

/** Quirks the image offers, by constant name, with their boot_params.quirks bits. */
export function quirks(image: KernelImage): Map<string, number> {
  return new Map(image.layout.constants('KLP_QUIRK_'));
}

/**
 * Whether the booted kernel runs with the quirk of that KLP_QUIRK_* constant: what its
 * boot_params say, as the firmware reads them. An image without the constant has no such quirk.
 */
export function quirkEnabled(k: Kernel, constant: string): boolean {
  const bit = quirks(k.image).get(constant);
  if (bit === undefined) return false;
  return (k.mem.u32(k.sym('boot_params') + BigInt(k.layout.offset('boot_params', 'quirks'))) & bit) !== 0;
}

function quirkBits(image: KernelImage, names: readonly string[]): number {
  const known = quirks(image);
  let bits = 0;
  for (const name of names) {
    const bit = known.get(name);
    if (bit === undefined) throw new BootError(`unknown quirk '${name}': the image has ${[...known.keys()].join(', ') || 'none'}`);
    bits |= bit;
  }
  return bits;
}

export async function bootKernel(opts: BootOptions = {}): Promise<Kernel> {
  const image = KernelImage.load(opts.image ?? DEFAULT_IMAGE);
  const L = image.layout;
  const cpus = opts.cpus ?? 4;
  if (cpus > L.constant('NR_CPUS')) throw new BootError(`${cpus} cpus: the image supports at most ${L.constant('NR_CPUS')}`);
  const names = workloads(image);
  const workload = names.get(opts.workload ?? 'default');
  if (workload === undefined) throw new BootError(`unknown workload '${opts.workload}': the image has ${[...names.keys()].join(', ')}`);
  const hz = opts.hz ?? 100;
  const quirkMask = quirkBits(image, opts.quirks ?? []);

  const segments = image.loadSegments();
  const ramBase = segments.reduce((m, s) => (s.vaddr < m ? s.vaddr : m), segments[0].vaddr) & ~0xfffn;
  const ramSize = (opts.ramMiB ?? 64) * 1024 * 1024;
  const imageEnd = segments.reduce((m, s) => (s.vaddr + BigInt(s.memsz) > m ? s.vaddr + BigInt(s.memsz) : m), 0n);
  if (imageEnd - ramBase > BigInt(ramSize) / 2n)
    throw new BootError(`image needs 0x${(imageEnd - ramBase).toString(16)} bytes: give it more than ${opts.ramMiB ?? 64} MiB`);

  const starts = await image.instructions();
  const irqEnableEnds = await image.irqEnableEnds();
  await loadAssembler(); // ftrace assembles its trampolines' patch points
  const m = new Machine({
    cpus,
    ramBase,
    ramSize,
    quantum: opts.quantum,
    seed: opts.seed ?? 1,
    nsPerInsn: opts.nsPerInsn,
    hz,
    timerVector: L.constant('TIMER_VECTOR'),
    hostCallVector: L.constant('HOSTCALL_VECTOR'),
  });
  for (const s of segments) m.mem.write(s.vaddr, s.data());
  m.markDecoded(starts, irqEnableEnds);

  const hostBytes = BigInt((opts.hostMiB ?? 8) * 1024 * 1024);
  const k = new Kernel(m, image, m.mem.end - hostBytes, opts.logCapacity);
  const bp = k.sym('boot_params');
  const put32 = (f: string, v: number) => m.mem.setU32(bp + BigInt(L.offset('boot_params', f)), v);
  const put64 = (f: string, v: bigint) => m.mem.setU64(bp + BigInt(L.offset('boot_params', f)), v);
  put64('ram_end', k.hostMem.start);
  put64('seed', BigInt(opts.seed ?? 1));
  put32('nr_cpus', cpus);
  put32('hz', hz);
  put32('preempt', opts.preempt === 'full' ? 1 : 0);
  put32('workload', workload);
  put32('nr_user', opts.nrUser ?? 0);
  put32('nr_kthreads', opts.nrKthreads ?? 0);
  put32('loglevel', 7);
  put32('quirks', quirkMask);
  put64('magic', BigInt(L.constant('BOOT_MAGIC')));
  if (opts.traceEntry) {
    enableJumpLabels(image, m.mem);
    m.mem.setU32(k.sym('lab_trace_entry'), 1);
  }

  m.onPort(L.constant('PORT_POWEROFF'), (cpu, v) => m.stop({ kind: 'poweroff', code: v, cpu: cpu.index }, cpu));
  m.onPort(L.constant('PORT_PANIC'), (cpu, v) => {
    // the message lives in the image: a 32-bit value sign-extends to its kernel address
    const addr = BigInt.asUintN(64, BigInt(v | 0));
    m.stop({ kind: 'panic', message: m.mem.contains(addr) ? m.mem.cstring(addr) : '?', cpu: cpu.index }, cpu);
  });
  m.onPort(L.constant('PORT_IPI'), (_cpu, v) => {
    const target = v & 0xffff;
    if (target < cpus) m.raiseInterrupt(target, v >>> 16);
  });
  m.onPort(L.constant('PORT_CPU_ONLINE'), (cpu) => {
    cpu.snapshotRing0();
    cpu.online = true;
  });
  // a cpu that reported itself dead halts with interrupts off until a startup IPI restarts it
  // at the entry point, as at boot (its idle task starts over on its own stack)
  const parked = new Set<number>();
  m.onPort(L.constant('PORT_CPU_DEAD'), (cpu) => {
    cpu.online = false;
    parked.add(cpu.index);
  });
  m.onPort(L.constant('PORT_CPU_STARTUP'), (_cpu, v) => {
    const target = v & 0xffff;
    if (!parked.delete(target)) return; // a startup IPI to a running cpu is ignored
    m.startCpu(target, image.elf.entry, { rdi: BigInt(target) });
  });
  const pvclock = m.mem.offset(k.sym('pvclock') + BigInt(L.offset('pvclock', 'ns')), 8);
  m.beforeRound.push(() => {
    m.mem.view.setUint32(pvclock, m.clockNs % 4294967296, true);
    m.mem.view.setUint32(pvclock + 4, Math.floor(m.clockNs / 4294967296), true);
  });

  for (let i = 0; i < cpus; i++) m.startCpu(i, image.elf.entry, { rdi: BigInt(i) });
  return k;
}
