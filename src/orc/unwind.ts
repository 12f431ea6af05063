// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The reliable ORC unwinder: what the livepatch consistency model asks of a task's stack before
 * it may switch the task (stack_trace_save_tsk_reliable() on x86 with ORC). It walks a task's
 * kernel stack frame by frame with the ORC tables and either returns every return address, or
 * says why the trace cannot be trusted, where, and what it had found so far.
 *
 * Rules, as the kernel has them: the first frame and register (interrupt) frames are looked up
 * at their ip, return addresses at ip - 1 (the call, not what follows it, which may belong to
 * another function after a noreturn call); every stack access must stay within the task's
 * stack; the stack must grow towards its base; every return address must be kernel text; the
 * walk must end at an end-of-stack marker or at the user-mode registers the entry code saved,
 * and (a check the lab adds) that end must be the base of the stack, where task_pt_regs() is.
 * A kernel-mode register frame in the middle (an interrupted kernel: preemption, an interrupt
 * on a kernel thread) makes the trace unreliable, as in the kernels the lab follows; the
 * `kernelRegs: 'follow'` option walks through it instead, as 6.x kernels with ORC do.
 *
 * Speed: a stopped machine's tasks are unwound by the thousand, so the hot loop reads guest
 * memory through a DataView with offsets computed once, keeps addresses as Numbers (offsets
 * into guest RAM), and allocates nothing until a result is handed out.
 */
import type { Kernel, KernelImage, Task } from '../kernel/index.ts';
import {
  ORC_TYPE_CALL,
  ORC_TYPE_END_OF_STACK,
  ORC_TYPE_REGS,
  ORC_TYPE_REGS_PARTIAL,
  ORC_TYPE_UNDEFINED,
  ORC_REG_BP,
  ORC_REG_BP_INDIRECT,
  ORC_REG_DI,
  ORC_REG_DX,
  ORC_REG_PREV_SP,
  ORC_REG_R10,
  ORC_REG_R13,
  ORC_REG_SP,
  ORC_REG_SP_INDIRECT,
  ORC_REG_UNDEFINED,
} from './format.ts';
import { OrcTable } from './table.ts';

/**
 * Why a trace is not reliable: the one table of reasons. Each has the code the hot walk
 * returns (RELIABLE, 0, is no reason) and the text a report prints; everything that produces
 * or matches a reason goes through it, so a name, its code and its text cannot drift apart.
 */
export const UNWIND_REASONS = {
  /** No ORC entry covers the ip (outside every table, or before the first entry). */
  'no-orc': { code: 1, text: 'no ORC entry at ip' },
  /** The entry says nothing is known here (a terminator, or a blind spot objtool marked). */
  'undefined-sp': { code: 2, text: 'undefined sp (no unwind information at ip)' },
  /** The entry names a base register or type the unwinder does not know, or a register whose value is not available. */
  'bad-orc': { code: 3, text: 'unknown base register or type in ORC entry' },
  /** A stack access (a return address, saved registers, a saved bp) outside the task's stack. */
  'out-of-bounds': { code: 4, text: 'stack access out of the task stack bounds' },
  /** The next frame's sp is not above the current one. */
  'wrong-direction': { code: 5, text: 'stack going in the wrong direction' },
  /** A return address (or an interrupted ip) that is not kernel or module text. */
  'outside-text': { code: 6, text: 'address outside kernel text' },
  /** More frames than the caller's buffer holds. */
  'too-many': { code: 7, text: 'too many frames' },
  /** Registers saved by an interrupt or exception taken in kernel mode, mid-stack. */
  'kernel-regs': { code: 8, text: 'kernel-mode register frame mid-stack' },
  /** The walk ended (end marker or user registers) somewhere other than the base of the stack. */
  'no-end': { code: 9, text: 'did not reach the end of the stack' },
} as const;
export type UnreliableReason = keyof typeof UNWIND_REASONS;

/** The walk's result code when the trace is reliable; any other code is a reason's. */
export const RELIABLE = 0;
const REASON_BY_CODE: UnreliableReason[] = [];
for (const [reason, { code }] of Object.entries(UNWIND_REASONS)) REASON_BY_CODE[code] = reason as UnreliableReason;
export function reasonOf(code: number): UnreliableReason {
  return REASON_BY_CODE[code];
}
export function codeOf(reason: UnreliableReason): number {
  return UNWIND_REASONS[reason].code;
}
// the codes as constants, for the hot walk
const E_NO_ORC = UNWIND_REASONS['no-orc'].code;
const E_UNDEFINED = UNWIND_REASONS['undefined-sp'].code;
const E_BAD_ORC = UNWIND_REASONS['bad-orc'].code;
const E_OOB = UNWIND_REASONS['out-of-bounds'].code;
const E_DIRECTION = UNWIND_REASONS['wrong-direction'].code;
const E_TEXT = UNWIND_REASONS['outside-text'].code;
const E_TOO_MANY = UNWIND_REASONS['too-many'].code;
const E_KERNEL_REGS = UNWIND_REASONS['kernel-regs'].code;
const E_NO_END = UNWIND_REASONS['no-end'].code;

/** Where an unreliable walk stopped. */
export interface UnwindWhere {
  /** Entries found before the problem (= entries.length). */
  frame: number;
  /** The frame's ip and sp at that point (sp may be absent when it is not a RAM address). */
  ip?: bigint;
  sp?: bigint;
  /** The address the problem is about: the access out of bounds, the register frame, the bad return address. */
  address?: bigint;
}

export type StackTrace =
  | { reliable: true; entries: bigint[]; exact: boolean[]; start: UnwindStart }
  | {
      reliable: false;
      reason: UnreliableReason;
      message: string;
      entries: bigint[];
      exact: boolean[];
      where: UnwindWhere;
      start: UnwindStart;
    };

/** How a task's walk began: from its saved switch frame, or from the live registers of a vCPU. */
export type UnwindStart = { from: 'switch-frame' } | { from: 'cpu'; cpu: number; userMode: boolean };

export interface UnwindOptions {
  /** What a kernel-mode register frame mid-stack means: unreliable (default), or walk through it. */
  kernelRegs?: 'unreliable' | 'follow';
  /** Require the walk to end at the stack's base (task_pt_regs); default true. */
  checkEnd?: boolean;
}

interface TextRange {
  table: OrcTable;
  /** RAM offsets of the covered text, and the table's base as a RAM offset. */
  lo: number;
  hi: number;
  delta: number;
  name: string;
}

const tableCache = new WeakMap<KernelImage, OrcTable>();

/** The ORC table of a kernel image (parsed once per image). */
export function imageOrcTable(image: KernelImage): OrcTable {
  let t = tableCache.get(image);
  if (!t) {
    t = OrcTable.fromImage(image.elf, { start: image.textStart, end: image.textEnd });
    tableCache.set(image, t);
  }
  return t;
}

/** Per-vCPU registers needed to start a walk, as RAM offsets (NaN: not a RAM address). */
interface CpuRegs {
  ip: number;
  sp: number;
  bp: number;
  di: number;
  dx: number;
  r10: number;
  r13: number;
  user: boolean;
  /** rq->curr of this cpu, as a RAM offset. */
  curr: number;
}

/**
 * One kernel's unwinder: its tables, the struct offsets, the buffer the last walk filled.
 * Obtain it with orcUnwinder(kernel); it stays valid while the kernel lives.
 */
export class OrcUnwinder {
  readonly kernelTable: OrcTable;
  /** Return addresses of the last walk (RAM offsets), count of them, and its diagnostics. */
  entries: Uint32Array;
  /** 1 where the entry is not a return address (an interrupted or first ip, ret_from_fork): print it as is. */
  exact: Uint8Array;
  /**
   * The stack pointer of the caller of each entry's function, once the walk stepped past it:
   * for a function entered by a call, its return address's slot + 8 (the consistency checker
   * learns from it where frames begin).
   */
  callerSp: Uint32Array;
  count = 0;
  /** Where the last unreliable walk stopped: ip, sp and the address concerned (RAM offsets, NaN if none). */
  whereIp = NaN;
  whereSp = NaN;
  whereAddr = NaN;
  /** Bytes of the access at whereAddr (out-of-bounds). */
  whereLen = 0;

  private readonly view: DataView;
  private readonly memBase: bigint;
  private readonly baseHi: number;
  private readonly baseLo: number;
  private readonly ranges: TextRange[] = [];
  private readonly kt: OrcTable;
  private readonly ktLo: number;
  private readonly ktHi: number;
  private readonly ktDelta: number;
  // layout
  private readonly oStack: number;
  private readonly oThreadSp: number;
  private readonly threadSize: number;
  private readonly frameSize: number;
  private readonly oFrameBp: number;
  private readonly oFrameRet: number;
  private readonly ptSize: number;
  private readonly pIp: number;
  private readonly pCs: number;
  private readonly pSp: number;
  private readonly pBp: number;
  private readonly pDi: number;
  private readonly pDx: number;
  private readonly pR10: number;
  private readonly pR13: number;
  private readonly iretOffset: number;
  private readonly iretSize: number;
  private readonly retFromFork: number;
  private readonly rqCurr: number[];
  // The walk's state, named after the kernel's struct unwind_state (arch/x86/kernel/unwind_orc.c):
  // where the current frame is (ip, sp, bp), whether ip is exact rather than a return address
  // (signal), and the register frames the entry code saved: regs, the last one crossed (a RAM
  // offset, -1 none), full_regs when it is a whole pt_regs rather than the iret frame, and
  // prev_regs, a full frame seen just before an iret frame, which still supplies the registers
  // the iret frame lacks. liveRegs stands for the regs unwind_start() is given for a running
  // task: the stopped vCPU's registers, which are not in guest memory.
  private ip = 0;
  /** [lo, hi) offsets of the code where stacks begin: ret_from_fork, and _start for idle tasks. */
  private readonly forkSite: [number, number];
  private readonly bootSite: [number, number];
  private idle = false;
  private readonly oFlags: number;
  private readonly pfIdle: number;
  private sp = 0;
  private bp = 0;
  private signal = false;
  private regs = -1;
  private fullRegs = false;
  private prevRegs = -1;
  private liveRegs: CpuRegs | null = null;
  /** The reason code of the last walk (RELIABLE when it was), unwind_state's error. */
  error = RELIABLE;
  private stackLo = 0;
  private stackHi = 0;
  private opts: Required<UnwindOptions> = { kernelRegs: 'unreliable', checkEnd: true };
  // vCPU snapshot
  private cpuRegs: CpuRegs[] = [];
  private snapRounds = -1;
  private snapInsns: number[] = [];

  constructor(readonly kernel: Kernel) {
    const mem = kernel.mem;
    if ((mem.base & 0xffffffffn) + BigInt(mem.size) > 0x100000000n)
      throw new RangeError('guest RAM crosses a 4 GiB boundary: the unwinder keeps addresses as 32-bit offsets');
    this.view = mem.view;
    this.memBase = mem.base;
    this.baseHi = Number(mem.base >> 32n);
    this.baseLo = Number(mem.base & 0xffffffffn);
    this.kernelTable = this.kt = imageOrcTable(kernel.image);
    this.ktDelta = Number(this.kt.base - mem.base);
    this.ktLo = this.ktDelta;
    this.ktHi = this.ktDelta + this.kt.size;
    const L = kernel.layout;
    this.oStack = L.offset('task_struct', 'stack');
    this.oThreadSp = L.offset('task_struct', 'thread.sp');
    this.threadSize = L.constant('THREAD_SIZE');
    this.frameSize = L.sizeof('inactive_task_frame');
    this.oFrameBp = L.offset('inactive_task_frame', 'bp');
    this.oFrameRet = L.offset('inactive_task_frame', 'ret_addr');
    this.ptSize = L.sizeof('pt_regs');
    this.pIp = L.offset('pt_regs', 'ip');
    this.pCs = L.offset('pt_regs', 'cs');
    this.pSp = L.offset('pt_regs', 'sp');
    this.pBp = L.offset('pt_regs', 'bp');
    this.pDi = L.offset('pt_regs', 'di');
    this.pDx = L.offset('pt_regs', 'dx');
    this.pR10 = L.offset('pt_regs', 'r10');
    this.pR13 = L.offset('pt_regs', 'r13');
    // the hardware's part of pt_regs: ip, cs, flags, sp, ss
    this.iretOffset = this.pIp;
    this.iretSize = this.ptSize - this.pIp;
    this.retFromFork = Number(kernel.sym('ret_from_fork') - mem.base);
    const site = (name: string): [number, number] => {
      const sym = kernel.image.elf.findSymbol(name);
      const lo = Number(sym.value - mem.base);
      return [lo, lo + sym.size];
    };
    this.forkSite = site('ret_from_fork');
    this.bootSite = site('_start');
    this.oFlags = kernel.layout.offset('task_struct', 'flags');
    this.pfIdle = kernel.layout.constant('PF_IDLE');
    const rqCurr = L.offset('pcpu', 'rq') + L.offset('rq', 'curr');
    const perCpu = Number(kernel.sym('per_cpu') - mem.base);
    this.rqCurr = kernel.machine.cpus.map((_c, i) => perCpu + i * L.sizeof('pcpu') + rqCurr);
    this.entries = new Uint32Array(128);
    this.exact = new Uint8Array(128);
    this.callerSp = new Uint32Array(128);
  }

  /** Adds the table of a loaded module (its text range must lie in guest RAM). */
  addModule(name: string, table: OrcTable): void {
    const delta = Number(table.base - this.memBase);
    this.ranges.push({ table, lo: delta, hi: delta + table.size, delta, name });
  }

  /**
   * Text at [address, address + size) that is a copy of image text at `copyOf` (an ftrace
   * dynamic trampoline): it is text, and its ORC is the original's at the same offset (the
   * kernel's orc_ftrace_find). `name` identifies it for removeModule.
   */
  addCopy(name: string, address: bigint, size: number, copyOf: bigint): void {
    const lo = Number(address - this.memBase);
    const delta = lo - Number(copyOf - this.memBase) + this.ktDelta;
    this.ranges.push({ table: this.kt, lo, hi: lo + size, delta, name });
  }

  removeModule(name: string): void {
    const i = this.ranges.findIndex((r) => r.name === name);
    if (i >= 0) this.ranges.splice(i, 1);
  }

  /** Whether a RAM offset is kernel or module text (__kernel_text_address). */
  isText(off: number): boolean {
    if (off >= this.ktLo && off < this.ktHi) return true;
    for (const r of this.ranges) if (off >= r.lo && off < r.hi) return true;
    return false;
  }

  /** The table and entry index covering a RAM offset, or -1 (table lookups only; no unwinding). */
  findEntry(off: number, binary = false): { table: OrcTable; index: number } | null {
    if (off >= this.ktLo && off < this.ktHi) {
      const i = binary ? this.kt.findBinary(off - this.ktDelta) : this.kt.find(off - this.ktDelta);
      return i < 0 ? null : { table: this.kt, index: i };
    }
    for (const r of this.ranges)
      if (off >= r.lo && off < r.hi) {
        const i = binary ? r.table.findBinary(off - r.delta) : r.table.find(off - r.delta);
        return i < 0 ? null : { table: r.table, index: i };
      }
    return null;
  }

  /** A RAM offset as a guest address. */
  address(off: number): bigint {
    return this.memBase + BigInt(off);
  }

  /** A guest address as a RAM offset (NaN when not in RAM's 4 GiB window). */
  offset(address: bigint): number {
    const d = address - this.memBase;
    return d >= -0x80000000n && d < 0x100000000n ? Number(d) : NaN;
  }

  /** The 64-bit word at a RAM offset, as a RAM offset (NaN if its high half differs from RAM's). */
  private rd(off: number): number {
    const v = this.view;
    return v.getUint32(off + 4, true) === this.baseHi ? v.getUint32(off, true) - this.baseLo : NaN;
  }

  private inStack(off: number, len: number): boolean {
    return off >= this.stackLo && off + len <= this.stackHi;
  }

  // ---------------------------------------------------------------------------------------
  // vCPU state

  /** Re-reads the vCPUs' registers when the machine has run since the last read. */
  private refreshCpus(): void {
    const m = this.kernel.machine;
    let same = this.snapRounds === m.rounds;
    for (let i = 0; same && i < m.cpus.length; i++) if (this.snapInsns[i] !== m.cpus[i].ctl.insnCount) same = false;
    if (same) return;
    this.invalidate();
    this.snapRounds = m.rounds;
    this.snapInsns = m.cpus.map((c) => c.ctl.insnCount);
    this.cpuRegs = m.cpus.map((c, i) => {
      const r = c.readAll();
      const w = new Uint32Array(r.buffer, r.byteOffset, r.length * 2);
      const off = (k: number) => (w[2 * k + 1] === this.baseHi ? w[2 * k] - this.baseLo : NaN);
      // indices as in src/emu/cpu.ts GPR_NAMES
      return {
        ip: off(16),
        sp: off(7),
        bp: off(6),
        di: off(5),
        dx: off(3),
        r10: off(10),
        r13: off(13),
        user: (w[2 * 18] & 3) === 3,
        curr: this.rd(this.rqCurr[i]),
      };
    });
  }

  /** Forget the vCPU registers read so far (call after changing registers from the host). */
  invalidate(): void {
    this.snapRounds = -1;
  }

  /**
   * Which vCPU is executing a task: the one whose (kernel-mode) sp lies on the task's stack, or
   * the one in user mode whose rq->curr it is. -1: the task is switched out, its state is in
   * its switch frame.
   */
  runningOn(taskOff: number): number {
    this.refreshCpus();
    const lo = this.rd(taskOff + this.oStack);
    const hi = lo + this.threadSize;
    const regs = this.cpuRegs;
    for (let c = 0; c < regs.length; c++) if (!regs[c].user && regs[c].sp >= lo && regs[c].sp < hi) return c;
    for (let c = 0; c < regs.length; c++) if (regs[c].user && regs[c].curr === taskOff) return c;
    return -1;
  }

  /** The registers the walk of a running task starts from (a copy of the snapshot). */
  cpuStart(cpu: number): Readonly<CpuRegs> {
    this.refreshCpus();
    return this.cpuRegs[cpu];
  }

  // ---------------------------------------------------------------------------------------
  // The walk

  /**
   * Unwinds the task at RAM offset taskOff into this.entries; returns RELIABLE or an error code
   * (see reasonOf). `cpu` >= 0 starts from that vCPU's live registers, -1 from the switch frame,
   * undefined lets runningOn() decide.
   */
  unwindTask(taskOff: number, maxEntries = 100, opts?: UnwindOptions, cpu?: number): number {
    if (opts) this.opts = { kernelRegs: opts.kernelRegs ?? 'unreliable', checkEnd: opts.checkEnd ?? true };
    else if (this.opts.kernelRegs !== 'unreliable' || !this.opts.checkEnd) this.opts = { kernelRegs: 'unreliable', checkEnd: true };
    if (this.entries.length < maxEntries + 1) {
      this.entries = new Uint32Array(maxEntries + 1);
      this.exact = new Uint8Array(maxEntries + 1);
      this.callerSp = new Uint32Array(maxEntries + 1);
    }
    this.count = 0;
    this.error = RELIABLE;
    this.whereIp = this.whereSp = this.whereAddr = NaN;
    this.stackLo = this.rd(taskOff + this.oStack);
    this.stackHi = this.stackLo + this.threadSize;
    this.idle = (this.view.getUint32(taskOff + this.oFlags, true) & this.pfIdle) !== 0;
    this.liveRegs = null;
    this.regs = -1;
    this.fullRegs = false;
    this.prevRegs = -1;
    const c = cpu ?? this.runningOn(taskOff);
    if (c >= 0) {
      this.refreshCpus();
      const r = this.cpuRegs[c];
      if (r.user) return RELIABLE; // nothing of the task is on its kernel stack
      this.liveRegs = r;
      this.fullRegs = true;
      this.ip = r.ip;
      this.sp = r.sp;
      this.bp = r.bp;
      this.signal = true;
      if (!this.inStack(this.sp, 8)) return this.fail(E_OOB, this.sp);
    } else {
      const frame = this.rd(taskOff + this.oThreadSp);
      if (!this.inStack(frame, this.frameSize)) {
        this.sp = frame;
        return this.fail(E_OOB, frame, this.frameSize);
      }
      this.sp = frame + this.frameSize;
      this.bp = this.rd(frame + this.oFrameBp);
      this.ip = this.rd(frame + this.oFrameRet);
      // a task that never ran "returns" to the first instruction of ret_from_fork
      this.signal = this.ip === this.retFromFork;
    }
    return this.walk(maxEntries);
  }

  private fail(code: number, addr = NaN, len = 8): number {
    this.error = code;
    this.whereIp = this.ip;
    this.whereSp = this.sp;
    this.whereAddr = addr;
    this.whereLen = len;
    return code;
  }

  private walk(max: number): number {
    const entries = this.entries;
    let n = 0;
    let crossedRegs = false;
    for (;;) {
      if (crossedRegs) {
        // the previous step crossed into a register frame saved by entry code
        const cs = this.view.getUint32(this.regs + this.pCs, true);
        if ((cs & 3) === 3) {
          this.count = n;
          return this.endAt(this.regs);
        }
        if (this.opts.kernelRegs === 'unreliable') {
          this.count = n;
          return this.fail(E_KERNEL_REGS, this.regs);
        }
      }
      const ip = this.ip;
      if (!((ip >= this.ktLo && ip < this.ktHi) || this.isText(ip))) {
        this.count = n;
        return this.fail(E_TEXT, ip);
      }
      if (n >= max) {
        this.count = n;
        return this.fail(E_TOO_MANY);
      }
      this.exact[n] = this.signal ? 1 : 0;
      entries[n++] = ip;
      const r = this.step();
      if (r === 0) {
        this.callerSp[n - 1] = this.sp;
        crossedRegs = this.regs >= 0;
        continue;
      }
      this.count = n;
      return r < 0 ? this.endAt(this.sp) : r;
    }
  }

  /**
   * The walk found its end with the frame base at `base`: it must be the stack's base, and an
   * end marker in kernel text must be where this task's stack really begins (ret_from_fork, or
   * _start for an idle task), so a forged return address into other hinted code cannot pass
   * for the bottom of a stack.
   */
  private endAt(base: number): number {
    if (!this.opts.checkEnd) return RELIABLE;
    if (base !== this.stackHi - this.ptSize) return this.fail(E_NO_END, base);
    const ip = this.ip;
    const [lo, hi] = this.idle ? this.bootSite : this.forkSite;
    if (ip >= this.ktLo && ip < this.ktHi && (ip < lo || ip >= hi)) return this.fail(E_NO_END, base);
    return RELIABLE;
  }

  /**
   * A register value for a base register (its pt_regs offset), the kernel's get_reg(): from a
   * full register frame, else from prev_regs behind an iret frame; NaN when unavailable.
   */
  private reg(which: number): number {
    const r = this.liveRegs;
    if (r) return which === this.pBp ? r.bp : which === this.pDi ? r.di : which === this.pDx ? r.dx : which === this.pR10 ? r.r10 : r.r13;
    const at = this.fullRegs ? this.regs : this.prevRegs;
    if (at < 0) return NaN;
    return this.rd(at + which);
  }

  /**
   * One step to the caller's frame (unwind_next_frame): 0 moved, -1 reached an end marker,
   * > 0 an error code.
   */
  private step(): number {
    const ip = this.ip;
    const look = this.signal ? ip : ip - 1;
    let t: OrcTable;
    let i: number;
    if (look >= this.ktLo && look < this.ktHi) {
      t = this.kt;
      i = t.find(look - this.ktDelta);
    } else {
      const range = this.rangeOf(look);
      if (!range) return this.fail(E_NO_ORC, look);
      t = range.table;
      i = t.find(look - range.delta);
    }
    if (i < 0) return this.fail(E_NO_ORC, look);
    const kind = t.kind[i];
    if (kind === ORC_TYPE_END_OF_STACK) return -1;
    if (kind === ORC_TYPE_UNDEFINED) return this.fail(E_UNDEFINED, look);
    const spOff = t.spOffset[i];
    const prevSp = this.sp;
    let sp: number;
    switch (t.spReg[i]) {
      case ORC_REG_SP:
        sp = prevSp + spOff;
        break;
      case ORC_REG_BP:
        sp = this.bp + spOff;
        break;
      case ORC_REG_SP_INDIRECT:
        if (!this.inStack(prevSp, 8)) return this.fail(E_OOB, prevSp);
        sp = this.rd(prevSp) + spOff;
        break;
      case ORC_REG_BP_INDIRECT: {
        const a = this.bp + spOff;
        if (!this.inStack(a, 8)) return this.fail(E_OOB, a);
        sp = this.rd(a);
        break;
      }
      case ORC_REG_R10:
      case ORC_REG_R13:
      case ORC_REG_DI:
      case ORC_REG_DX: {
        const reg = t.spReg[i];
        const v = this.reg(reg === ORC_REG_R10 ? this.pR10 : reg === ORC_REG_R13 ? this.pR13 : reg === ORC_REG_DI ? this.pDi : this.pDx);
        if (v !== v) return this.fail(E_BAD_ORC, look);
        sp = v + spOff;
        break;
      }
      case ORC_REG_UNDEFINED:
        return this.fail(E_UNDEFINED, look);
      default:
        return this.fail(E_BAD_ORC, look);
    }
    switch (kind) {
      case ORC_TYPE_CALL: {
        const slot = sp - 8;
        if (!this.inStack(slot, 8)) return this.fail(E_OOB, slot);
        this.ip = this.rd(slot);
        this.sp = sp;
        this.liveRegs = null;
        this.regs = -1;
        this.fullRegs = false;
        this.prevRegs = -1;
        // ret_from_fork is "returned to" only through the switch frame fork built, never after
        // a call: its first instruction is the frame, not the byte before it (which ends other
        // code). Seen when a task's first switch-in is caught halfway, from live registers.
        this.signal = this.ip === this.retFromFork;
        break;
      }
      case ORC_TYPE_REGS:
        if (!this.inStack(sp, this.ptSize)) return this.fail(E_OOB, sp, this.ptSize);
        this.ip = this.rd(sp + this.pIp);
        this.sp = this.rd(sp + this.pSp);
        this.liveRegs = null;
        this.regs = sp;
        this.fullRegs = true;
        this.prevRegs = -1;
        this.signal = true;
        break;
      case ORC_TYPE_REGS_PARTIAL: {
        if (!this.inStack(sp, this.iretSize)) return this.fail(E_OOB, sp, this.iretSize);
        const base = sp - this.iretOffset;
        this.ip = this.rd(base + this.pIp);
        this.sp = this.rd(base + this.pSp);
        // a full frame seen just before still supplies the registers the iret frame lacks
        this.prevRegs = this.fullRegs && !this.liveRegs ? this.regs : -1;
        this.liveRegs = null;
        this.regs = base;
        this.fullRegs = false;
        this.signal = true;
        break;
      }
      default:
        return this.fail(E_BAD_ORC, look);
    }
    const bpOff = t.bpOffset[i];
    switch (t.bpReg[i]) {
      case ORC_REG_UNDEFINED: {
        const v = this.regs < 0 && !this.liveRegs ? NaN : this.reg(this.pBp);
        if (v === v) this.bp = v;
        break;
      }
      case ORC_REG_PREV_SP: {
        const a = sp + bpOff;
        if (!this.inStack(a, 8)) return this.fail(E_OOB, a);
        this.bp = this.rd(a);
        break;
      }
      case ORC_REG_BP: {
        const a = this.bp + bpOff;
        if (!this.inStack(a, 8)) return this.fail(E_OOB, a);
        this.bp = this.rd(a);
        break;
      }
      default:
        return this.fail(E_BAD_ORC, look);
    }
    // an sp back on this stack must be above the last one, or bad data could loop forever
    if (this.inStack(this.sp, 8) && this.sp <= prevSp) {
      this.whereIp = ip;
      this.whereSp = prevSp;
      this.whereAddr = this.sp;
      return (this.error = E_DIRECTION);
    }
    return 0;
  }

  private rangeOf(off: number): TextRange | undefined {
    for (const r of this.ranges) if (off >= r.lo && off < r.hi) return r;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Results for callers outside the hot path

  /** The last walk as a StackTrace (allocates: bigints for every entry). */
  result(code: number, start: UnwindStart): StackTrace {
    const entries: bigint[] = [];
    const exact: boolean[] = [];
    for (let i = 0; i < this.count; i++) {
      entries.push(this.memBase + BigInt(this.entries[i]));
      exact.push(this.exact[i] === 1);
    }
    if (code === RELIABLE) return { reliable: true, entries, exact, start };
    const big = (v: number) => (v === v ? this.memBase + BigInt(v) : undefined);
    const where: UnwindWhere = { frame: this.count };
    const ip = big(this.whereIp);
    const sp = big(this.whereSp);
    const address = big(this.whereAddr);
    if (ip !== undefined) where.ip = ip;
    if (sp !== undefined) where.sp = sp;
    if (address !== undefined) where.address = address;
    const reason = reasonOf(code);
    return { reliable: false, reason, message: UNWIND_REASONS[reason].text, entries, exact, where, start };
  }

  /** stack_trace_save_tsk_reliable() for one task. */
  trace(task: Task | bigint, maxEntries = 100, opts?: UnwindOptions): StackTrace {
    const addr = typeof task === 'bigint' ? task : task.address;
    const off = Number(addr - this.memBase);
    const cpu = this.runningOn(off);
    const code = this.unwindTask(off, maxEntries, opts, cpu);
    return this.result(code, cpu < 0 ? { from: 'switch-frame' } : { from: 'cpu', cpu, userMode: this.cpuRegs[cpu].user });
  }
}

/**
 * The kernel's unwinder (Kernel.unwinder, which its oops and WARN reports use): the one the
 * lab's assembly handed it, or one made and handed to it now.
 */
export function orcUnwinder(kernel: Kernel): OrcUnwinder {
  if (kernel.unwinder instanceof OrcUnwinder) return kernel.unwinder;
  const u = new OrcUnwinder(kernel);
  kernel.unwinder = u;
  return u;
}

/**
 * Reliable stack trace of a task, as livepatch's klp_check_stack() asks for it: at most
 * maxEntries return addresses, innermost first, or the reason the stack cannot be trusted.
 * A sleeping task is unwound from its switch frame (thread.sp), a running one from the live
 * registers of the stopped vCPU it runs on.
 */
export function stackTraceSaveTskReliable(kernel: Kernel, task: Task, maxEntries = 100, opts?: UnwindOptions): StackTrace {
  return orcUnwinder(kernel).trace(task, maxEntries, opts);
}
