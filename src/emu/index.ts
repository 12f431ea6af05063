// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The emulated machine: Unicorn through koffi, vCPUs over one shared RAM, quanta, clock,
 * interrupts, host calls and code writes, and the assembler/disassembler the lab checks code with.
 */
export { assemble, loadAssembler } from './asm.ts';
export { CheckpointStore, type MachineCheckpoint } from './checkpoint.ts';
export { R, type Vcpu } from './cpu.ts';
export { disassemble, formatInsn, type Insn, loadDisassembler, mayEnableInterrupts } from './disasm.ts';
export { type DebugStop, type GuestFault, type HostCallArgs, Machine, type RunLimits, type RunResult, type VcpuStall } from './machine.ts';
export { type GuestMemory } from './memory.ts';
export { allocInstructionMap, KLP_STOP_INTR, markInstruction, WatchRing } from './native/index.ts';
export { Prng } from './prng.ts';
export { UC_HOOK_BLOCK } from './unicorn-const.ts';
export { type UcHook } from './unicorn.ts';
export * as uc from './unicorn-const.ts';
