// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ground-truth check of the ORC unwinder: boot a kernel with the shadow-stack hook, stop it
 * at many pseudo-random points (whole rounds, then every vCPU single-stepped a random number of
 * instructions, sometimes on until it sits on an fentry site, in entry code, mid-prologue or
 * mid-epilogue), and at each stop compare the ORC trace of every task with the shadow stack the
 * emulator kept. A trace reported reliable must equal the truth; an unreliable one must have
 * found only true frames and give a reason that holds. The same code serves the tests (a few
 * thousand task stacks) and the benchmark (a million and more).
 */
import { type Kernel, bootKernel, type BootOptions, allTasks, TaskListError, imageSymbolizer } from '../../kernel/index.ts';
import { Prng } from '../../emu/index.ts';
import {
  ORC_TYPE_UNDEFINED,
  ORC_TYPE_UNKNOWN,
  ORC_REG_BP,
  ORC_REG_DI,
  ORC_REG_DX,
  ORC_REG_PREV_SP,
  ORC_REG_R10,
  ORC_REG_R13,
  ORC_REG_SP_INDIRECT,
  ORC_REG_UNDEFINED,
} from '../format.ts';
import { orcUnwinder, reasonOf, RELIABLE, type OrcUnwinder, type UnreliableReason, type UnwindOptions } from '../unwind.ts';
import { classifyCode, CLS_ENTRY, CLS_EPILOGUE, CLS_FENTRY, CLS_PROLOGUE, type CodeClasses } from './code.ts';
import { ENT_CALL, ENT_IRQ_KERNEL, ENT_IRQ_USER, ShadowStacks, type ShadowEntry } from './shadow.ts';

export interface SampleOptions {
  boot?: BootOptions;
  seed?: number;
  /** Stop points. */
  samples: number;
  /** Rounds run before each stop: 1 + below(maxRounds). */
  maxRounds?: number;
  /** Instructions each vCPU is then stepped: below(maxStep). */
  maxStep?: number;
  /** Fraction of vCPU steps that go on to an instruction of a chosen class. */
  targeted?: number;
  /** Emulated ms to run before sampling starts (boot). */
  warmupMs?: number;
  /** Also check every stack with this small buffer, to exercise "too many frames". */
  smallMax?: number;
  /** Keep at most this many mismatch reports. */
  keepReports?: number;
  /** Called after each stop with the kernel stopped (corruption tests, extra checks). */
  onSample?: (ctx: SampleContext) => void;
}

export interface ModeStats {
  checked: number;
  reliable: number;
  frames: number;
  unreliable: Partial<Record<UnreliableReason, number>>;
  /** Unreliable although the true stack was a clean one (the unwinder could not know). */
  cautious: Partial<Record<UnreliableReason, number>>;
  /** Reliable traces that differ from the truth. Must be 0. */
  mismatches: number;
  /** Unreliable verdicts whose frames or reason do not hold. Must be 0. */
  falseVerdicts: number;
}

export interface SampleStats {
  samples: number;
  skipped: number;
  taskStacks: number;
  running: number;
  userMode: number;
  switchedOut: number;
  /** Where running tasks were caught (their ip, and interrupted ips below interrupt frames). */
  caught: { fentry: number; entry: number; prologue: number; epilogue: number; irqFrames: number };
  /** The unwinder's own choice of start (running on which vCPU) disagreed with the truth's. */
  startMismatches: number;
  modes: Record<'strict' | 'follow' | 'small', ModeStats>;
  shadow: { events: number; anomalies: number; overflows: number; stale: number };
  reports: string[];
  hostMs: number;
}

export interface SampleContext {
  kernel: Kernel;
  unwinder: OrcUnwinder;
  shadow: ShadowStacks;
  code: CodeClasses;
  sample: number;
}

const emptyMode = (): ModeStats => ({ checked: 0, reliable: 0, frames: 0, unreliable: {}, cautious: {}, mismatches: 0, falseVerdicts: 0 });

/** A booted kernel with the ground-truth hook installed before its first instruction. */
export async function bootWithGroundTruth(boot: BootOptions = {}): Promise<{ kernel: Kernel; shadow: ShadowStacks; code: CodeClasses }> {
  const kernel = await bootKernel({ cpus: 4, workload: 'default', ...boot });
  const code = await classifyCode(kernel.image);
  const shadow = new ShadowStacks(kernel, code);
  return { kernel, shadow, code };
}

/** The true frames of a stack as the unwinder should report them, and how the walk must end. */
interface Expected {
  entries: number[];
  end: 'reliable' | 'kernel-regs' | 'no-end';
  /** kernel-regs: the register frame's base; no-end: where the walk ends. */
  at: number;
}

function expect(
  frames: ShadowEntry[],
  first: number | null,
  follow: boolean,
  endBase: number,
  iretOffset: number,
  bottomSp: number,
): Expected {
  const entries: number[] = [];
  if (first !== null) entries.push(first);
  for (const f of frames) {
    if (f.kind === ENT_CALL) entries.push(f.value);
    else if (f.kind === ENT_IRQ_USER) {
      const base = f.slot - iretOffset;
      return { entries, end: base === endBase ? 'reliable' : 'no-end', at: base };
    } else if (f.kind === ENT_IRQ_KERNEL) {
      if (!follow) return { entries, end: 'kernel-regs', at: f.slot - iretOffset };
      entries.push(f.value);
    }
  }
  // no user frame at the bottom: a kernel thread or idle task, ending at its end marker, with
  // sp just above the bottom return address
  const sp = frames.length ? frames[frames.length - 1].slot + 8 : bottomSp;
  // nothing recorded and sp above task_pt_regs: a task on its way to user mode through the
  // registers fork or exec wrote there (no interrupt put them there, so no frame was recorded)
  if (!frames.length && first !== null && sp > endBase) return { entries, end: 'reliable', at: endBase };
  return { entries, end: sp === endBase ? 'reliable' : 'no-end', at: sp };
}

function sameList(a: Uint32Array, n: number, b: number[]): boolean {
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isPrefix(a: Uint32Array, n: number, b: number[]): boolean {
  if (n > b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Samples a running kernel and checks every task stack at every stop. The kernel must have been
 * booted with bootWithGroundTruth (its shadow stacks complete from the first instruction).
 */
export function sampleStacks(kernel: Kernel, shadow: ShadowStacks, code: CodeClasses, opts: SampleOptions): SampleStats {
  const t0 = performance.now();
  const rng = new Prng(opts.seed ?? 1);
  const m = kernel.machine;
  const u = orcUnwinder(kernel);
  const L = kernel.layout;
  const memBase = kernel.mem.base;
  const view = kernel.mem.view;
  const baseHi = Number(memBase >> 32n);
  const baseLo = Number(memBase & 0xffffffffn);
  const rd = (off: number) => (view.getUint32(off + 4, true) === baseHi ? view.getUint32(off, true) - baseLo : NaN);
  const threadSize = L.constant('THREAD_SIZE');
  const ptSize = L.sizeof('pt_regs');
  const iretOffset = L.offset('pt_regs', 'ip');
  const oStack = L.offset('task_struct', 'stack');
  const oThreadSp = L.offset('task_struct', 'thread.sp');
  const frameSize = L.sizeof('inactive_task_frame');
  const oFrameRet = L.offset('inactive_task_frame', 'ret_addr');
  const retFromFork = Number(kernel.sym('ret_from_fork') - memBase);
  const codeBase = Number(code.base - memBase);
  const textLo = Number(kernel.image.textStart - memBase);
  const textHi = Number(kernel.image.textEnd - memBase);
  const symbolizer = imageSymbolizer(kernel.image.elf);
  const sym = (off: number) => (off === off ? symbolizer.symbolizeReturn(memBase + BigInt(off)) : '?');
  const strictOpts: UnwindOptions = { kernelRegs: 'unreliable' };
  const followOpts: UnwindOptions = { kernelRegs: 'follow' };
  const stats: SampleStats = {
    samples: 0,
    skipped: 0,
    taskStacks: 0,
    running: 0,
    userMode: 0,
    switchedOut: 0,
    caught: { fentry: 0, entry: 0, prologue: 0, epilogue: 0, irqFrames: 0 },
    startMismatches: 0,
    modes: { strict: emptyMode(), follow: emptyMode(), small: emptyMode() },
    shadow: { events: 0, anomalies: 0, overflows: 0, stale: 0 },
    reports: [],
    hostMs: 0,
  };
  const keep = opts.keepReports ?? 20;
  const report = (s: string) => {
    if (stats.reports.length < keep) stats.reports.push(s);
  };
  const classOf = (off: number) => {
    const o = off - codeBase;
    return o >= 0 && o < code.size ? code.cls[o] : 0;
  };
  const count = (cls: number) => {
    if (cls & CLS_FENTRY) stats.caught.fentry++;
    if (cls & CLS_ENTRY) stats.caught.entry++;
    if (cls & CLS_PROLOGUE) stats.caught.prologue++;
    if (cls & CLS_EPILOGUE) stats.caught.epilogue++;
  };
  const masks = [CLS_FENTRY, CLS_ENTRY, CLS_PROLOGUE, CLS_EPILOGUE];

  /** Checks one walk against the truth; returns a problem description or null. */
  const judge = (mode: ModeStats, code: number, max: number, exp: Expected, stackLo: number, truthClean: boolean): string | null => {
    mode.checked++;
    const n = u.count;
    const e = u.entries;
    mode.frames += n;
    if (code === RELIABLE) {
      mode.reliable++;
      if (exp.end === 'reliable' && sameList(e, n, exp.entries)) return null;
      mode.mismatches++;
      return `reliable trace differs from the truth (truth ends ${exp.end})`;
    }
    const reason = reasonOf(code);
    mode.unreliable[reason] = (mode.unreliable[reason] ?? 0) + 1;
    if (truthClean && exp.entries.length <= max) mode.cautious[reason] = (mode.cautious[reason] ?? 0) + 1;
    const stackHi = stackLo + threadSize;
    const addr = u.whereAddr;
    let ok = isPrefix(e, n, exp.entries);
    if (ok) {
      switch (reason) {
        case 'kernel-regs':
          ok = exp.end === 'kernel-regs' && n === exp.entries.length && addr === exp.at;
          break;
        case 'no-end':
          ok = exp.end === 'no-end' && n === exp.entries.length && addr === exp.at;
          break;
        case 'too-many':
          ok = exp.entries.length > max && n === max;
          break;
        case 'no-orc':
        case 'undefined-sp':
        case 'bad-orc': {
          const last = n ? e[n - 1] : NaN;
          ok = n > 0 && (addr === last || addr === last - 1);
          const hit = ok ? u.findEntry(addr, true) : null;
          if (reason === 'no-orc') ok &&= hit === null;
          else if (!hit) ok = false;
          else {
            const k = hit.table.kind[hit.index];
            const undef = k === ORC_TYPE_UNDEFINED || hit.table.spReg[hit.index] === ORC_REG_UNDEFINED;
            const spReg = hit.table.spReg[hit.index];
            const bpReg = hit.table.bpReg[hit.index];
            // bad-orc: a type or base register the unwinder cannot follow, or one needing a
            // register value (dx, di, r10, r13) that only an interrupt frame would supply
            const unusable =
              k === ORC_TYPE_UNKNOWN ||
              spReg > ORC_REG_SP_INDIRECT ||
              [ORC_REG_DX, ORC_REG_DI, ORC_REG_R10, ORC_REG_R13].includes(spReg) ||
              ![ORC_REG_UNDEFINED, ORC_REG_PREV_SP, ORC_REG_BP].includes(bpReg);
            ok &&= reason === 'undefined-sp' ? undef : !undef && unusable;
          }
          break;
        }
        case 'out-of-bounds':
          ok = !(addr >= stackLo && addr + u.whereLen <= stackHi);
          break;
        case 'wrong-direction':
          ok = addr <= u.whereSp;
          break;
        case 'outside-text':
          ok = !(addr >= textLo && addr < textHi) && exp.entries[n] === addr;
          break;
      }
    }
    if (ok) return null;
    mode.falseVerdicts++;
    return `unreliable (${reason}) but ${isPrefix(e, n, exp.entries) ? 'the reason does not hold' : 'the frames found are not the true ones'}`;
  };

  if (opts.warmupMs) kernel.runFor(opts.warmupMs);
  for (let s = 0; s < opts.samples; s++) {
    kernel.run({ rounds: 1 + rng.below(opts.maxRounds ?? 3) });
    for (const c of rng.shuffle(m.cpus.map((_c, i) => i))) {
      const targeted = rng.next() / 4294967296 < (opts.targeted ?? 0.3);
      const n = rng.below(opts.maxStep ?? 400);
      if (targeted) shadow.step(c, n, masks[rng.below(masks.length)], 2000);
      else shadow.step(c, n);
    }
    if (m.stopped) break;
    shadow.sync();
    u.invalidate();
    // the truth's view of the vCPUs, read directly (not through the unwinder)
    const cpus = m.cpus.map((c, i) => {
      const r = c.readAll();
      const w = new Uint32Array(r.buffer, r.byteOffset, r.length * 2);
      const off = (k: number) => (w[2 * k + 1] === baseHi ? w[2 * k] - baseLo : NaN);
      return { ip: off(16), sp: off(7), user: (w[36] & 3) === 3, curr: Number(kernel.cpuCurr(i).address - memBase) };
    });
    let tasks;
    try {
      tasks = allTasks(kernel);
    } catch (e) {
      if (e instanceof TaskListError) {
        stats.skipped++;
        continue;
      }
      throw e;
    }
    stats.samples++;
    for (const task of tasks) {
      const off = Number(task.address - memBase);
      const stackLo = rd(off + oStack);
      const stackHi = stackLo + threadSize;
      const endBase = stackHi - ptSize;
      let cpu = cpus.findIndex((c) => !c.user && c.sp >= stackLo && c.sp < stackHi);
      if (cpu < 0) cpu = cpus.findIndex((c) => c.user && c.curr === off);
      stats.taskStacks++;
      if (u.runningOn(off) !== cpu) stats.startMismatches++;
      let frames: ShadowEntry[];
      let first: number | null = null;
      let bottomSp: number;
      const si = shadow.stackIndex(stackLo);
      if (cpu >= 0 && cpus[cpu].user) {
        stats.userMode++;
        frames = [];
        bottomSp = endBase;
        if (shadow.entries(si, stackLo).length) stats.shadow.stale++;
      } else if (cpu >= 0) {
        stats.running++;
        const c = cpus[cpu];
        first = c.ip;
        count(classOf(c.ip));
        const tsp = rd(off + oThreadSp);
        if (rd(tsp + oFrameRet) === retFromFork && c.sp <= tsp + oFrameRet) {
          // caught in its very first switch-in (__switch_to_asm after the stack switch, or
          // __switch_to): it will return through fork's switch frame into ret_from_fork, and
          // whatever else the shadow holds for its stack is a dead task's
          frames = [{ slot: tsp + oFrameRet, value: retFromFork, kind: ENT_CALL }];
        } else {
          frames = shadow.entries(si, c.sp);
          stats.shadow.stale += shadow.stale(si, c.sp);
        }
        bottomSp = c.sp;
      } else {
        stats.switchedOut++;
        const tsp = rd(off + oThreadSp);
        bottomSp = tsp + frameSize;
        if (rd(tsp + oFrameRet) === retFromFork) {
          // a task that never ran: its switch frame "returns" to ret_from_fork, which no call
          // put there, and whatever the shadow holds for its stack is a dead task's
          frames = [];
          first = retFromFork;
        } else {
          frames = shadow.entries(si, tsp);
          stats.shadow.stale += shadow.stale(si, tsp);
        }
      }
      for (const f of frames)
        if (f.kind === ENT_IRQ_KERNEL) {
          stats.caught.irqFrames++;
          count(classOf(f.value));
        }
      const userOnly = cpu >= 0 && cpus[cpu].user;
      const truthStrict = expect(frames, first, false, endBase, iretOffset, bottomSp);
      const truthFollow = expect(frames, first, true, endBase, iretOffset, bottomSp);
      const clean = truthStrict.end === 'reliable';
      const checks: Array<[ModeStats, UnwindOptions, number, Expected, string]> = [
        [stats.modes.strict, strictOpts, 100, truthStrict, 'strict'],
        [stats.modes.follow, followOpts, 100, truthFollow, 'follow'],
      ];
      if (opts.smallMax) checks.push([stats.modes.small, strictOpts, opts.smallMax, truthStrict, 'small']);
      for (const [mode, uo, max, exp, name] of checks) {
        const rc = u.unwindTask(off, max, uo, cpu);
        const problem = userOnly
          ? rc === RELIABLE && u.count === 0
            ? null
            : 'user-mode task not reported as an empty reliable trace'
          : judge(mode, rc, max, exp, stackLo, clean);
        if (userOnly) {
          mode.checked++;
          if (rc === RELIABLE) mode.reliable++;
          if (problem) mode.mismatches++;
        }
        if (problem) {
          const got = Array.from(u.entries.subarray(0, u.count), sym).join(' < ');
          const want = exp.entries.map(sym).join(' < ');
          report(
            `sample ${s} ${name} ${task.comm}:${task.pid} (${cpu >= 0 ? `cpu ${cpu} rip ${sym(cpus[cpu].ip)}` : 'switched out'}): ${problem}\n` +
              `  orc:   ${rc === RELIABLE ? 'reliable' : reasonOf(rc)} @${sym(u.whereAddr)} [${got}]\n  truth: ${exp.end} [${want}]`,
          );
        }
      }
    }
    opts.onSample?.({ kernel, unwinder: u, shadow, code, sample: s });
  }
  stats.shadow.events = shadow.events;
  stats.shadow.anomalies = shadow.anomalies;
  stats.shadow.overflows = shadow.overflows;
  stats.hostMs = performance.now() - t0;
  return stats;
}
