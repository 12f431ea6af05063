// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One emulated x86-64 CPU: a Unicorn engine over the shared RAM, its control block for the
 * native block hook (instruction count, quantum budget), and the state the "hardware" keeps
 * for it: halted, pending interrupt vectors, and what it needs to deliver an interrupt (the
 * IDT and TSS bases, a ring-0 snapshot of its system registers).
 */
import * as C from './unicorn-const.ts';
import { Uc, type UcContext } from './unicorn.ts';
import { CpuCtl, KLP_DELIVER_ERRORS } from './native/index.ts';
import type { GuestMemory } from './memory.ts';

/** General registers in pt_regs-like order, plus rip/rflags/cs/ss, for batch reads. */
export const GPR_NAMES = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rbp',
  'rsp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
  'rflags',
  'cs',
  'ss',
] as const;
export type RegName = (typeof GPR_NAMES)[number];
export type Registers = Record<RegName, bigint>;

export const GPR_IDS = Int32Array.from([
  C.UC_X86_REG_RAX,
  C.UC_X86_REG_RBX,
  C.UC_X86_REG_RCX,
  C.UC_X86_REG_RDX,
  C.UC_X86_REG_RSI,
  C.UC_X86_REG_RDI,
  C.UC_X86_REG_RBP,
  C.UC_X86_REG_RSP,
  C.UC_X86_REG_R8,
  C.UC_X86_REG_R9,
  C.UC_X86_REG_R10,
  C.UC_X86_REG_R11,
  C.UC_X86_REG_R12,
  C.UC_X86_REG_R13,
  C.UC_X86_REG_R14,
  C.UC_X86_REG_R15,
  C.UC_X86_REG_RIP,
  C.UC_X86_REG_RFLAGS,
  C.UC_X86_REG_CS,
  C.UC_X86_REG_SS,
]);
/** Index of each register in a batch read of GPR_IDS. */
export const R = Object.fromEntries(GPR_NAMES.map((n, i) => [n, i])) as Record<RegName, number>;

export const X86_EFLAGS_IF = 0x200n;

export class InterruptDeliveryError extends Error {
  constructor(
    readonly cpu: number,
    readonly vector: number,
    reason: string,
  ) {
    super(`cpu ${cpu}: cannot deliver vector 0x${vector.toString(16)}: ${reason}`);
    this.name = 'InterruptDeliveryError';
  }
}

export class Vcpu {
  readonly uc: Uc;
  readonly ctl = new CpuCtl();
  /** Reported online by the firmware (system registers final, snapshot taken). */
  online = false;
  /**
   * Halted with interrupts off: parked after the firmware reported the cpu dead (hotplug), until
   * a startup IPI restarts it. An online cpu found so is a hard lockup that stops the machine.
   */
  dead = false;
  idtBase = 0n;
  tssBase = 0n;
  ring0: UcContext | null = null;

  private readonly regs = new BigUint64Array(GPR_IDS.length);

  constructor(
    readonly index: number,
    private readonly mem: GuestMemory,
  ) {
    this.uc = Uc.open(C.UC_ARCH_X86, C.UC_MODE_64);
    this.uc.memMapPtr(mem.base, mem.size, C.UC_PROT_ALL, mem.buffer);
    this.ctl.attach(this.uc);
  }

  get insns(): bigint {
    return this.ctl.insns;
  }

  get rip(): bigint {
    return this.uc.regRead(C.UC_X86_REG_RIP);
  }
  set rip(v: bigint) {
    this.uc.regWrite(C.UC_X86_REG_RIP, v);
  }

  reg(id: number): bigint {
    return this.uc.regRead(id);
  }

  /** All general registers plus rip, rflags, cs, ss, read in one call. Reuses one array. */
  readAll(): BigUint64Array {
    this.uc.regReadBatch(GPR_IDS, this.regs);
    return this.regs;
  }

  registers(): Registers {
    const v = this.readAll();
    return Object.fromEntries(GPR_NAMES.map((n, i) => [n, v[i]])) as Registers;
  }

  /** Stopped in hlt, waiting for an interrupt. */
  get halted(): boolean {
    return this.ctl.halted;
  }
  set halted(v: boolean) {
    this.ctl.halted = v;
  }

  /** Raises an interrupt; it is delivered as soon as IF allows (see klp_run). */
  raise(vector: number): void {
    this.ctl.raise(vector);
  }

  /**
   * Captures the ring-0 system state (segments, descriptor tables, MSRs) once the firmware has
   * made it final: interrupt delivery needs it to enter ring 0 from user mode.
   */
  snapshotRing0(): void {
    this.ring0 ??= this.uc.contextAlloc();
    this.uc.contextSave(this.ring0);
    this.idtBase = this.uc.regReadMmr(C.UC_X86_REG_IDTR).base;
    this.tssBase = this.uc.regReadMmr(C.UC_X86_REG_TR).base;
    this.ctl.setCpu(this.mem.buffer, this.mem.base, this.ring0.ptr, this.idtBase, this.tssBase);
  }

  /**
   * Delivers an interrupt now through the firmware's IDT, as the CPU would (klp_deliver in
   * native/klpemu.c). `soft`: an `int n` instruction, checked against the gate's DPL.
   */
  deliver(vector: number, soft: boolean): void {
    const err = this.ctl.deliver(this.uc, vector, soft);
    if (err) throw new InterruptDeliveryError(this.index, vector, KLP_DELIVER_ERRORS[err] ?? `error ${err}`);
  }

  /** Interrupts delivered on a vector so far. */
  delivered(vector: number): number {
    return this.ctl.delivered(vector);
  }

  close(): void {
    this.uc.close();
  }
}
