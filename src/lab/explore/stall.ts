// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A schedule's vCPU stall, put on a running lab: the preemption point is resolved from the
 * image's symbol table and its code (the instruction the schedule names, modulo the function's
 * count), the machine arms it once the emulated clock reaches the schedule's time, and its start
 * is a line of the kernel log, naming the exact address -- so a replay shows where it stopped.
 */
import { disassemble } from '../../emu/index.ts';
import type { Lab } from '../selftest.ts';
import type { ScheduledStall } from './schedule.ts';

/** The address of the stall's instruction: `insn` modulo the instructions of `fn`. */
export function preemptionPoint(lab: Lab, stall: Pick<ScheduledStall, 'fn' | 'insn'>): { address: bigint; name: string } {
  const sym = lab.k.image.elf.findSymbol(stall.fn);
  const insns = [...disassemble(lab.k.mem.bytes(sym.value, sym.size), sym.value)];
  if (!insns.length) throw new Error(`preemption point ${stall.fn}: no instruction`);
  const address = insns[stall.insn % insns.length].address;
  return { address, name: `${stall.fn}+0x${(address - sym.value).toString(16)}` };
}

/** Arms `stall` on `lab` when the clock reaches t0 + atMs (checked after every round). */
export function armStall(lab: Lab, stall: ScheduledStall, t0: number): void {
  const m = lab.k.machine;
  const cpu = stall.cpu % lab.k.nrCpus;
  const { address, name } = preemptionPoint(lab, stall);
  let armed = false;
  m.afterRound.push(() => {
    if (armed || m.clockNs < t0 + stall.atMs * 1e6) return;
    armed = true;
    m.stallAt({
      cpu,
      address,
      nth: stall.nth,
      ns: stall.ms * 1e6,
      onStall: () => lab.log(`explore: stall: cpu${cpu} held at ${name} for ${stall.ms} ms`),
    });
  });
}
