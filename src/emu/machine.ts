// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The multi-vCPU machine. All vCPUs share one RAM and run in one host thread, round robin:
 * each round every vCPU runs one quantum of `quantum` instructions (ended deterministically by
 * the native block hook), in an order a seeded generator permutes per round. Time is derived
 * from executed work, never from the host clock: a round advances the emulated clock by
 * quantum * nsPerInsn, a halted vCPU idles through its quantum, and when every vCPU is halted
 * the clock jumps to the next timer tick. Interrupts (the periodic timer, IPIs the firmware
 * sends through a port, `int $0x80`) are delivered through the firmware's IDT as soon as IF
 * allows: at a quantum's start, in hlt, or where sti, popf or iret set IF (klp_run). When host code runs, every vCPU is stopped.
 */
import * as C from './unicorn-const.ts';
import { UnicornError, type UcHook } from './unicorn.ts';
import * as N from './native/index.ts';
import { GuestMemory } from './memory.ts';
import { GPR_IDS, InterruptDeliveryError, R, Vcpu, X86_EFLAGS_IF, type Registers } from './cpu.ts';
import { Prng } from './prng.ts';
import { disassemble, mayEnableInterrupts } from './disasm.ts';
import { locateFault } from './fault.ts';

export interface MachineOptions {
  cpus: number;
  ramBase: bigint;
  ramSize: number;
  /** Instructions per vCPU per round. */
  quantum?: number;
  /** Permutes the vCPU order of every round. */
  seed?: bigint | number;
  /** Emulated nanoseconds per instruction (default 1000: a 1 MHz machine, so emulated seconds stay cheap). */
  nsPerInsn?: number;
  /** Timer interrupts per emulated second on every online vCPU (0: none). */
  hz?: number;
  timerVector?: number;
  /** `int n` vectors the cpu delivers through the IDT (the rest are faults). Default: 0x80 and 3. */
  softVectors?: number[];
  /** `int n` vector of the hypercall instruction (rax = op, rdi..rcx = args, result in rax). */
  hostCallVector?: number;
}

/** Why the guest stopped the machine, or why the machine refused to go on. */
export type StopReason =
  | { kind: 'poweroff'; code: number; cpu: number }
  | { kind: 'panic'; message: string; cpu: number }
  | { kind: 'fault'; fault: GuestFault }
  | { kind: 'dead'; message: string };

/** A fault the guest cannot handle (the emulator refused an access or an instruction). */
export class GuestFault extends Error {
  constructor(
    readonly cpu: number,
    readonly what: string,
    readonly rip: bigint,
    readonly registers: Registers,
    readonly address?: bigint,
    readonly origin?: Error,
  ) {
    super(`cpu ${cpu}: ${what}` + (address !== undefined ? ` at address 0x${address.toString(16)}` : '') + ` (rip 0x${rip.toString(16)})`);
    this.name = 'GuestFault';
  }
}

export class MachineStoppedError extends Error {
  constructor(readonly reason: StopReason) {
    super(`machine stopped: ${describeStop(reason)}`);
    this.name = 'MachineStoppedError';
  }
}

export function describeStop(r: StopReason): string {
  switch (r.kind) {
    case 'poweroff':
      return `power off with code ${r.code} by cpu ${r.cpu}`;
    case 'panic':
      return `kernel panic on cpu ${r.cpu}: ${r.message}`;
    case 'fault':
      return r.fault.message;
    case 'dead':
      return r.message;
  }
}

export type PortHandler = (cpu: Vcpu, value: number) => void;
/** Services a hypercall with every vCPU stopped; the result goes to the caller's rax. */
export type HostCallHandler = (cpu: Vcpu, args: HostCallArgs) => bigint | number | void;
export interface HostCallArgs {
  op: number;
  /** rdi, rsi, rdx, rcx */
  a0: bigint;
  a1: bigint;
  a2: bigint;
  a3: bigint;
}
export type RoundHook = (m: Machine) => void;

/** Machine.schedule: the emulated clock, the rounds run, the next tick, the vCPU order and its generator. */
export interface MachineSchedule {
  clockNs: number;
  rounds: number;
  nextTickNs: number;
  order: number[];
  prng: Uint32Array;
}

/**
 * A debugger's stop on a vCPU, reported with every vCPU stopped. 'break': before the
 * instruction at pc (a breakpoint, or the count a step asked for); 'watch': a watched access
 * was made and the cpu stands before its next instruction. The quantum goes on where it
 * stopped when the handler returns, as if it had never stopped: same counts, same interrupts.
 */
export interface DebugStop {
  cpu: number;
  kind: 'break' | 'watch';
  pc: bigint;
  watch?: { address: bigint; write: boolean };
}

/**
 * A vCPU held up the way a hypervisor preempts one: once armed, it stops before its `nth`
 * execution of the instruction at `address` and runs no quantum until the clock has advanced
 * `ns`, while the other vCPUs go on. Where and when are all in the arming, so a run with a
 * stall is as deterministic as one without.
 */
export interface VcpuStall {
  cpu: number;
  address: bigint;
  nth: number;
  ns: number;
  /** Called with every vCPU stopped as the stall begins (a log line, say). */
  onStall?: (stall: VcpuStall) => void;
}

/** A watched range of guest memory, watched by every vCPU. */
interface Watch {
  address: bigint;
  length: number;
  hooks: UcHook[];
}

export interface RunLimits {
  /** Stop after this many emulated nanoseconds from now. */
  ns?: number;
  /** Stop after this many rounds. */
  rounds?: number;
  /** Checked after every round; stop when it returns true. */
  until?: (m: Machine) => boolean;
}

export interface RunResult {
  rounds: number;
  ns: number;
  insns: bigint;
  /** Host milliseconds inside the engines (uc_emu_start), and in all. */
  engineMs: number;
  totalMs: number;
  stopped?: StopReason;
  untilMet: boolean;
}

export class Machine {
  readonly mem: GuestMemory;
  readonly cpus: Vcpu[];
  readonly quantum: number;
  readonly nsPerInsn: number;
  readonly tickNs: number;
  readonly timerVector: number;
  /** Instruction-start bitmap over all of RAM, shared by every vCPU's block hook. */
  readonly imap: Uint8Array;
  /** Where sti, popf and iret end (bit = offset from the RAM base), shared likewise. */
  readonly emap: Uint8Array;
  /** Emulated time, ns. */
  clockNs = 0;
  rounds = 0;
  stopped: StopReason | null = null;
  /** Cpus found halted with interrupts off while online (each stopped the machine: a hard lockup). */
  readonly lostCpus: number[] = [];
  readonly beforeRound: RoundHook[] = [];
  readonly afterRound: RoundHook[] = [];
  /**
   * Called with every vCPU stopped as a host call begins, before its handler: a watcher of the
   * code that ran (CpuCtl.setWatch) reads what ran under the state the host call may change.
   */
  readonly beforeHostCall: Array<(cpu: Vcpu) => void> = [];
  /** Called as a host call ends, after its handler (the state it changed is final). */
  readonly afterHostCall: Array<(cpu: Vcpu) => void> = [];
  /** Empties the watch ring when it fills mid-quantum (CpuCtl.setWatch); the quantum goes on. */
  onWatchFull: (() => void) | null = null;
  /**
   * Counts the moments host code ran that may have changed state of the host's own, which a
   * checkpoint of the machine does not hold (src/emu/checkpoint.ts): each run(), host call and
   * port write, and each round hook that acted (a hook that changes host state calls
   * noteHostEffect). Between two rounds with the same count (and the same count of host writes
   * to guest memory), the host side did not change: the machine's state alone tells the rest.
   */
  hostEffects = 0;

  private readonly prng: Prng;
  private readonly order: number[];
  private readonly ports = new Map<number, PortHandler>();
  private readonly hostCalls = new Map<number, HostCallHandler>();
  readonly hostCallVector: number;
  private nextTickNs: number;
  private engineMs = 0;
  /** A debugger's: called at each of its stops (see DebugStop); may throw to abandon the run. */
  onDebugStop: ((stop: DebugStop) => void) | null = null;
  private readonly breakpoints = new Map<bigint, UcHook[]>();
  private readonly watches: Watch[] = [];
  private readonly stepHooks: (UcHook | null)[] = [];
  /** Per vCPU: the stall armed on it and how many executions of its address are left to pass. */
  private readonly stalls: ({ stall: VcpuStall; left: number; hook: UcHook } | null)[] = [];
  /** Per vCPU: the clock value until which a stall keeps it from running (0: none). */
  private readonly stalledUntilNs: number[] = [];

  constructor(opts: MachineOptions) {
    if (!Number.isInteger(opts.cpus) || opts.cpus < 1 || opts.cpus > 64) throw new RangeError(`cpus must be 1..64, not ${opts.cpus}`);
    this.quantum = opts.quantum ?? 5000;
    this.nsPerInsn = opts.nsPerInsn ?? 1000;
    const hz = opts.hz ?? 100;
    this.tickNs = hz ? 1e9 / hz : Infinity;
    this.nextTickNs = this.tickNs;
    this.timerVector = opts.timerVector ?? 0x20;
    this.hostCallVector = opts.hostCallVector ?? 0x81;
    this.prng = new Prng(opts.seed ?? 0);
    this.mem = new GuestMemory(opts.ramBase, opts.ramSize);
    this.imap = N.allocInstructionMap(opts.ramSize);
    this.emap = N.allocIrqEnableMap(opts.ramSize);
    this.cpus = [];
    for (let i = 0; i < opts.cpus; i++) {
      const cpu = new Vcpu(i, this.mem);
      cpu.ctl.setInstructionMap(this.imap, opts.ramBase, BigInt(opts.ramSize));
      cpu.ctl.setIrqEnableMap(this.emap);
      for (const v of opts.softVectors ?? [0x80, 3]) cpu.ctl.allowSoftVector(v);
      cpu.uc.hookAdd(C.UC_HOOK_INSN, (_uc, port, _size, value) => this.portWrite(cpu, port, value), 1n, 0n, C.UC_X86_INS_OUT);
      this.cpus.push(cpu);
    }
    this.order = this.cpus.map((c) => c.index);
  }

  /** Registers the device behind an I/O port (`out` from the guest). */
  onPort(port: number, handler: PortHandler): void {
    this.ports.set(port, handler);
  }

  private portWrite(cpu: Vcpu, port: number, value: number): void {
    const handler = this.ports.get(port);
    if (!handler) return;
    this.hostEffects++;
    handler(cpu, value);
  }

  /** A round hook changed state of the host's own (see hostEffects). */
  noteHostEffect(): void {
    this.hostEffects++;
  }

  /**
   * Registers the host side of hypercall `op`. The guest's `int $hostCallVector` stops its vCPU
   * at once with an exact rip (Unicorn hands `int n` to the native hook); the handler runs with
   * every vCPU stopped and may read and write guest memory and the caller's registers.
   */
  onHostCall(op: number, handler: HostCallHandler): void {
    if (this.hostCalls.has(op)) throw new Error(`host call ${op} registered twice`);
    this.hostCalls.set(op, handler);
  }

  /** Stops the machine from a device: the current quantum ends at the next block boundary. */
  stop(reason: StopReason, from?: Vcpu): void {
    this.stopped ??= reason;
    from?.uc.emuStop();
  }

  /** Raise an interrupt on a vCPU (an IPI or an external interrupt); delivered when it can be. */
  raiseInterrupt(cpu: number, vector: number): void {
    this.cpus[cpu].raise(vector);
  }

  /** Mark [address, address + code.length) as code: instruction starts for the instruction counter. */
  markCode(address: bigint, code: Uint8Array): void {
    const base = this.mem.offset(address, code.length);
    for (let i = base; i < base + code.length; i++) this.imap[i >> 3] &= ~(1 << (i & 7));
    for (let i = base + 1; i <= base + code.length; i++) this.emap[i >> 3] &= ~(1 << (i & 7));
    for (const insn of disassemble(code, address)) {
      const at = Number(insn.address - this.mem.base);
      N.markInstruction(this.imap, at);
      if (mayEnableInterrupts(insn)) N.markInstruction(this.emap, at + insn.size);
    }
  }

  /** Marks the instruction starts and interrupt windows of code already in RAM, as markCode finds them. */
  markDecoded(starts: readonly bigint[], irqEnableEnds: readonly bigint[]): void {
    for (const a of starts) N.markInstruction(this.imap, Number(a - this.mem.base));
    for (const a of irqEnableEnds) N.markInstruction(this.emap, Number(a - this.mem.base));
  }

  /**
   * Writes code and makes every vCPU see it: translated blocks covering the range are dropped
   * on every engine (Unicorn does not notice code writes by itself).
   */
  writeCode(address: bigint, code: Uint8Array): void {
    this.mem.write(address, code);
    const end = address + BigInt(code.length);
    for (const cpu of this.cpus) cpu.uc.tbRemoveCache(address, end);
    this.markCode(address, code);
  }

  /**
   * Starts vCPU `cpu` at `rip` with the given registers: at boot, or to restart a parked cpu
   * (INIT + startup IPI), which also drops the interrupts raised while it was parked.
   */
  startCpu(cpu: number, rip: bigint, regs: Partial<Record<'rdi' | 'rsi' | 'rsp', bigint>> = {}): void {
    const c = this.cpus[cpu];
    c.ctl.clearPending();
    const ids = { rdi: C.UC_X86_REG_RDI, rsi: C.UC_X86_REG_RSI, rsp: C.UC_X86_REG_RSP };
    for (const [k, v] of Object.entries(regs)) c.uc.regWrite(ids[k as keyof typeof ids], v as bigint);
    c.rip = rip;
    c.halted = false;
    c.dead = false;
  }

  /** The scheduler's state between two rounds, for a checkpoint (src/emu/checkpoint.ts). */
  get schedule(): MachineSchedule {
    return { clockNs: this.clockNs, rounds: this.rounds, nextTickNs: this.nextTickNs, order: [...this.order], prng: this.prng.state };
  }
  set schedule(s: MachineSchedule) {
    this.clockNs = s.clockNs;
    this.rounds = s.rounds;
    this.nextTickNs = s.nextTickNs;
    this.order.splice(0, this.order.length, ...s.order);
    this.prng.state = s.prng;
  }

  get insns(): bigint {
    let n = 0n;
    for (const c of this.cpus) n += c.insns;
    return n;
  }

  /** Runs rounds until a limit is reached or the guest stops the machine. */
  run(limits: RunLimits = {}): RunResult {
    if (this.stopped) throw new MachineStoppedError(this.stopped);
    this.hostEffects++;
    const t0 = performance.now();
    const engine0 = this.engineMs;
    const insns0 = this.insns;
    const clock0 = this.clockNs;
    const rounds0 = this.rounds;
    const endNs = limits.ns !== undefined ? this.clockNs + limits.ns : Infinity;
    const maxRounds = limits.rounds ?? Infinity;
    let untilMet = false;
    // rounds are counted on the machine: a checkpoint restored by a round hook moves it on
    while (!this.stopped && this.rounds - rounds0 < maxRounds && this.clockNs < endNs) {
      this.runRound();
      if (limits.until?.(this)) {
        untilMet = true;
        break;
      }
    }
    return {
      rounds: this.rounds - rounds0,
      ns: this.clockNs - clock0,
      insns: this.insns - insns0,
      engineMs: this.engineMs - engine0,
      totalMs: performance.now() - t0,
      stopped: this.stopped ?? undefined,
      untilMet,
    };
  }

  /** One round: every vCPU runs one quantum, in this round's order. */
  runRound(): void {
    for (const h of this.beforeRound) h(this);
    const order = this.prng.shuffle(this.order);
    let anyRan = false;
    for (const i of order) {
      if (this.stopped) break;
      const cpu = this.cpus[i];
      if (this.runQuantum(cpu)) anyRan = true;
    }
    this.rounds++;
    this.clockNs += this.quantum * this.nsPerInsn;
    if (!anyRan && !this.stopped && this.cpus.every((c) => c.halted || c.dead)) {
      // every vCPU waits for an interrupt: nothing happens until the next tick
      if (this.cpus.every((c) => c.dead)) this.stop({ kind: 'dead', message: 'every cpu halted with interrupts off' });
      else this.clockNs = Math.max(this.clockNs, this.nextTickNs);
    }
    while (this.clockNs >= this.nextTickNs) {
      for (const c of this.cpus) if (c.online && !c.dead) c.raise(this.timerVector);
      this.nextTickNs += this.tickNs;
    }
    for (const h of this.afterRound) h(this);
  }

  /** Runs one quantum on cpu; false if it was halted the whole time. */
  private runQuantum(cpu: Vcpu): boolean {
    const ctl = cpu.ctl;
    if (cpu.dead || (ctl.halted && !ctl.hasPending)) return false;
    if (this.clockNs < (this.stalledUntilNs[cpu.index] ?? 0)) return false;
    const start = ctl.insnCount;
    const budgetEnd = start + this.quantum;
    if (ctl.breakAt !== N.NO_COUNT && !this.stepHooks[cpu.index]) this.armStep(cpu);
    ctl.setStopAt(budgetEnd);
    for (;;) {
      let res = 0;
      const t = performance.now();
      try {
        cpu.uc.runNative(() => {
          res = ctl.run(cpu.uc);
          return res === N.KLP_RUN_ERROR ? ctl.runErr : 0;
        });
      } catch (e) {
        this.fault(cpu, e as Error);
        return true;
      } finally {
        this.engineMs += performance.now() - t;
      }
      if (this.stopped) return true;
      switch (res) {
        case N.KLP_RUN_BUDGET:
          break;
        case N.KLP_RUN_HALT:
          this.halt(cpu);
          break;
        case N.KLP_RUN_INTR:
          if (ctl.intno === this.hostCallVector) {
            this.hostCall(cpu);
            if (!this.stopped && ctl.insnCount < budgetEnd) continue;
            break;
          }
          this.stop({
            kind: 'fault',
            fault: this.guestFault(cpu, `unhandled exception vector ${ctl.intno} (${exceptionName(ctl.intno)})`),
          });
          break;
        case N.KLP_RUN_DELIVERY:
          this.fault(cpu, new InterruptDeliveryError(cpu.index, ctl.intno, N.KLP_DELIVER_ERRORS[ctl.deliverErr]));
          break;
        case N.KLP_RUN_WATCH:
          if (!this.onWatchFull) throw new Error(`cpu ${cpu.index}: the watch ring is full and no one empties it`);
          this.onWatchFull();
          if (!this.stopped && ctl.insnCount < budgetEnd) continue;
          break;
        case N.KLP_RUN_BREAK:
          {
            const stall = this.stallStop(cpu);
            if (stall === 'stalled') return true;
            // a stall's address passed: a debugger's stop only if it has a breakpoint there too
            if (stall !== 'passed' || this.breakpoints.has(cpu.rip)) this.debugStop(cpu);
          }
          if (!this.stopped) continue;
          break;
        default:
          this.stop({ kind: 'fault', fault: this.guestFault(cpu, 'emulation stopped for no known reason') });
      }
      // a watched access whose next instruction lies past the quantum: the stop is here
      if (ctl.watchHit && !this.stopped) this.debugStop(cpu);
      return ctl.insnCount > start;
    }
  }

  /**
   * The cpu sits in hlt. With IF set an interrupt wakes it; with IF clear nothing ever will.
   * That is how a cpu the firmware took offline parks (it reported itself dead first), and how
   * poweroff and panic end (they stopped the machine first). Anywhere else the cpu is lost
   * with work and timers that may be its alone, the hard lockup Linux's watchdog reports:
   * the machine stops with a fault naming it rather than going on with one cpu fewer.
   */
  private halt(cpu: Vcpu): void {
    if (!cpu.halted) throw new Error(`cpu ${cpu.index}: klp_run reported hlt for a cpu that is not halted`);
    if (cpu.reg(C.UC_X86_REG_RFLAGS) & X86_EFLAGS_IF) return;
    cpu.dead = true;
    if (!cpu.online) return;
    this.lostCpus.push(cpu.index);
    this.stop({ kind: 'fault', fault: this.guestFault(cpu, 'hard LOCKUP: halted with interrupts disabled while online') });
  }

  private hostCall(cpu: Vcpu): void {
    this.hostEffects++;
    for (const h of this.beforeHostCall) h(cpu);
    const r = cpu.readAll();
    if ((r[R.cs] & 3n) !== 0n) {
      this.stop({ kind: 'fault', fault: this.guestFault(cpu, 'host call from user mode') });
      return;
    }
    const args: HostCallArgs = { op: Number(r[R.rax]), a0: r[R.rdi], a1: r[R.rsi], a2: r[R.rdx], a3: r[R.rcx] };
    const handler = this.hostCalls.get(args.op);
    if (!handler) {
      this.stop({ kind: 'fault', fault: this.guestFault(cpu, `unknown host call ${args.op}`) });
      return;
    }
    const ret = handler(cpu, args);
    if (ret !== undefined) cpu.uc.regWrite(C.UC_X86_REG_RAX, BigInt.asUintN(64, BigInt(ret)));
    for (const h of this.afterHostCall) h(cpu);
  }

  private guestFault(cpu: Vcpu, what: string, address?: bigint, cause?: Error): GuestFault {
    const regs = cpu.registers();
    if (address !== undefined) {
      // rip is the start of the faulting block: find the instruction that made the access
      const at = locateFault(this.mem, regs, regs.rip, address);
      if (at !== undefined) regs.rip = at;
      else what += ' (rip is the start of the faulting block)';
    }
    return new GuestFault(cpu.index, what, regs.rip, regs, address, cause);
  }

  private fault(cpu: Vcpu, e: Error): void {
    if (e instanceof UnicornError) {
      this.stop({ kind: 'fault', fault: this.guestFault(cpu, faultName(e.code), e.address, e) });
    } else if (e instanceof InterruptDeliveryError) {
      this.stop({ kind: 'fault', fault: this.guestFault(cpu, e.message, undefined, e) });
    } else {
      throw e;
    }
  }

  /**
   * Runs one vCPU alone for exactly `count` instructions (single-stepping when count is 1),
   * delivering nothing. A code hook counts the instructions; code translated before the hook
   * existed would not call it, so this engine's translations are dropped before and after.
   */
  step(cpu: number, count = 1): void {
    const c = this.cpus[cpu];
    const before = c.ctl.insnCount;
    let left = count;
    this.withCodeHook(c, 1n, 0n, (uc) => {
      if (left-- === 0) uc.emuStop(); // stops before this instruction runs
    });
    c.ctl.insns = BigInt(before + count - Math.max(left, 0));
  }

  /** Runs one vCPU alone until rip == address (throws after maxInsns), delivering nothing. */
  runCpuUntil(cpu: number, address: bigint, maxInsns = 1_000_000): void {
    const c = this.cpus[cpu];
    const before = c.ctl.insnCount;
    let left = maxInsns;
    let reached = false;
    this.withCodeHook(c, 1n, 0n, (uc, at) => {
      if (at === address) reached = true;
      if (reached || left-- === 0) uc.emuStop();
    });
    c.ctl.insns = BigInt(before + maxInsns - Math.max(left, 0));
    if (!reached)
      throw new Error(`cpu ${cpu} did not reach 0x${address.toString(16)} within ${maxInsns} instructions (rip 0x${c.rip.toString(16)})`);
  }

  /**
   * Calls `fn` on vCPU `cpu` from where it stands, as an interrupt would run a handler there:
   * its registers are saved, `fn` runs alone (nothing delivered) until it returns, and they are
   * put back. The caller makes sure the code it stopped in may be interrupted so.
   */
  callOnCpu(cpu: number, fn: bigint, maxInsns = 1_000_000): void {
    const c = this.cpus[cpu];
    const saved = BigUint64Array.from(c.readAll());
    const back = saved[R.rip];
    const sp = saved[R.rsp] - 8n;
    this.mem.setU64(sp, back);
    c.uc.regWrite(C.UC_X86_REG_RSP, sp);
    c.rip = fn;
    try {
      this.runCpuUntil(cpu, back, maxInsns);
    } finally {
      GPR_WRITE.forEach((id, i) => c.uc.regWrite(id, saved[i]));
    }
  }

  private withCodeHook(c: Vcpu, begin: bigint, end: bigint, hook: (uc: Vcpu['uc'], address: bigint) => void): void {
    const h = c.uc.hookAdd(C.UC_HOOK_CODE, (uc, address) => hook(uc, address), begin, end);
    c.uc.tbRemoveCache(this.mem.base, this.mem.end);
    c.ctl.setStopAt(Number.MAX_SAFE_INTEGER);
    try {
      c.uc.emuStart(c.rip, 0n);
    } catch (e) {
      this.fault(c, e as Error);
    } finally {
      c.uc.hookDel(h);
      c.uc.tbRemoveCache(this.mem.base, this.mem.end);
    }
  }

  // ---------------------------------------------------------------------------------------
  // A debugger's breakpoints, watchpoints and steps, done in the engines: no guest byte changes.
  // A hook only exists in code translated after it was added, hence the dropped translations.

  private debugStop(cpu: Vcpu): void {
    const w = cpu.ctl.watchHit;
    cpu.ctl.clearWatchHit();
    const stop: DebugStop = { cpu: cpu.index, kind: w ? 'watch' : 'break', pc: cpu.rip };
    if (w) stop.watch = { address: w.address, write: w.type === C.UC_MEM_WRITE };
    this.onDebugStop?.(stop);
  }

  /**
   * Arms a stall (see VcpuStall) on its vCPU, replacing one armed there before. The stop is a
   * breakpoint of that vCPU alone: exact to the instruction, and nothing is paid elsewhere.
   */
  stallAt(stall: VcpuStall): void {
    if (!Number.isInteger(stall.nth) || stall.nth < 1) throw new RangeError(`a stall's nth must be 1 or more, not ${stall.nth}`);
    this.disarmStall(stall.cpu);
    const c = this.cpus[stall.cpu];
    const hook = c.ctl.attachDebug(c.uc, 'break', stall.address, stall.address);
    c.uc.tbRemoveCache(stall.address, stall.address + 1n);
    this.stalls[stall.cpu] = { stall, left: stall.nth, hook };
  }

  /** When the last stall in progress ends (clock ns), or 0 if no vCPU is held up now. */
  get stallEndNs(): number {
    const end = Math.max(0, ...this.stalledUntilNs.filter((t) => t !== undefined));
    return end > this.clockNs ? end : 0;
  }

  private disarmStall(cpu: number): void {
    const armed = this.stalls[cpu];
    if (!armed) return;
    const c = this.cpus[cpu];
    c.uc.hookDel(armed.hook);
    c.uc.tbRemoveCache(armed.stall.address, armed.stall.address + 1n);
    this.stalls[cpu] = null;
  }

  /**
   * A break on `cpu` at its stall's address: one execution fewer to pass, and at the last the
   * stall begins -- the quantum ends here, before the instruction, and the vCPU sits out.
   */
  private stallStop(cpu: Vcpu): 'stalled' | 'passed' | null {
    const armed = this.stalls[cpu.index];
    if (!armed || cpu.ctl.watchHit || cpu.rip !== armed.stall.address) return null;
    if (--armed.left > 0) return 'passed';
    this.disarmStall(cpu.index);
    this.stalledUntilNs[cpu.index] = this.clockNs + armed.stall.ns;
    armed.stall.onStall?.(armed.stall);
    return 'stalled';
  }

  /** Stops every vCPU before the instruction at address (see DebugStop). */
  addBreakpoint(address: bigint): void {
    if (this.breakpoints.has(address)) return;
    this.breakpoints.set(
      address,
      this.cpus.map((c) => c.ctl.attachDebug(c.uc, 'break', address, address)),
    );
    for (const c of this.cpus) c.uc.tbRemoveCache(address, address + 1n);
  }

  removeBreakpoint(address: bigint): void {
    const hooks = this.breakpoints.get(address);
    if (!hooks) return;
    this.breakpoints.delete(address);
    this.cpus.forEach((c, i) => {
      c.uc.hookDel(hooks[i]);
      c.uc.tbRemoveCache(address, address + 1n);
    });
  }

  /** Stops a vCPU after it reads or writes [address, address + length) (see DebugStop). */
  addWatchpoint(address: bigint, length: number, access: { read: boolean; write: boolean }): void {
    const end = address + BigInt(length) - 1n;
    const hooks: UcHook[] = [];
    for (const c of this.cpus) {
      if (access.write) hooks.push(c.ctl.attachDebug(c.uc, 'watch-write', address, end));
      if (access.read) hooks.push(c.ctl.attachDebug(c.uc, 'watch-read', address, end));
    }
    this.watches.push({ address, length, hooks });
    this.updateStepHooks();
  }

  removeWatchpoint(address: bigint, length: number): void {
    const i = this.watches.findIndex((w) => w.address === address && w.length === length);
    if (i < 0) return;
    const [w] = this.watches.splice(i, 1);
    const per = w.hooks.length / this.cpus.length;
    w.hooks.forEach((h, j) => this.cpus[Math.floor(j / per)].uc.hookDel(h));
    this.updateStepHooks();
  }

  /** Stops vCPU `cpu` before the instruction it runs when its count is `count` (null: no more). */
  breakAtCount(cpu: number, count: bigint | null): void {
    this.cpus[cpu].ctl.breakAt = count ?? N.NO_COUNT;
    this.armStep(this.cpus[cpu]);
  }

  private updateStepHooks(): void {
    for (const c of this.cpus) {
      this.armStep(c);
      // memory hooks too are compiled into the translated code
      c.uc.tbRemoveCache(this.mem.base, this.mem.end);
    }
  }

  /**
   * The per-instruction hook slows its engine several times over: a cpu has it while memory is
   * watched, or once the count it must stop at is within about a quantum (checked at every
   * quantum's start), so going to an instruction far ahead runs at full speed until near it.
   */
  private armStep(c: Vcpu): void {
    const at = c.ctl.breakAt;
    const want = this.watches.length > 0 || (at !== N.NO_COUNT && at <= c.ctl.insns + BigInt(this.quantum) + 4096n);
    const have = this.stepHooks[c.index] ?? null;
    if (want === (have !== null)) return;
    if (have) c.uc.hookDel(have);
    this.stepHooks[c.index] = want ? c.ctl.attachDebug(c.uc, 'step') : null;
    c.uc.tbRemoveCache(this.mem.base, this.mem.end);
  }

  close(): void {
    for (const c of this.cpus) c.close();
  }
}

function faultName(code: number): string {
  switch (code) {
    case C.UC_ERR_READ_UNMAPPED:
      return 'page fault: read from an unmapped address';
    case C.UC_ERR_WRITE_UNMAPPED:
      return 'page fault: write to an unmapped address';
    case C.UC_ERR_FETCH_UNMAPPED:
      return 'page fault: instruction fetch from an unmapped address';
    case C.UC_ERR_INSN_INVALID:
      return 'invalid opcode';
    case C.UC_ERR_EXCEPTION:
      return 'unhandled CPU exception';
    default:
      return C.UC_ERR_NAMES[code] ?? `unicorn error ${code}`;
  }
}

/** The registers callOnCpu() puts back, in the order of a batch read: all but cs and ss. */
const GPR_WRITE = Array.from(GPR_IDS).filter((id) => id !== C.UC_X86_REG_CS && id !== C.UC_X86_REG_SS);

const EXCEPTIONS = ['#DE', '#DB', 'NMI', '#BP', '#OF', '#BR', '#UD', '#NM', '#DF', '', '#TS', '#NP', '#SS', '#GP', '#PF'];
function exceptionName(v: number): string {
  return EXCEPTIONS[v] || 'vector';
}
