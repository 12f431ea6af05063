// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A GDB remote stub over a lab: the vCPUs are gdb's threads, breakpoints and watchpoints live
 * in the engines (Machine.addBreakpoint/addWatchpoint: no guest byte changes, so livepatch's and
 * ftrace's checks of the text still read what the image has), `continue` lets the whole
 * machine run its rounds as it would without a debugger, and the session runs on to its end
 * once gdb detaches.
 *
 * Reverse execution, as rr does it, by deterministic replay: a run is a function of its boot
 * options and the session's steps, and a stop leaves it as it was (the engines take back what
 * they counted past a stop), so any earlier moment of the session is reached again by booting
 * the same lab and running the same session to it. That replays the host's side too -- the
 * livepatch core's state, the event log, khostd's host tasks -- which a snapshot of RAM and
 * registers alone would not bring back. A moment is a vCPU about to run its Nth instruction,
 * the Nth write of the host to guest memory, or the end of a round; with the machine's total
 * instruction count and the host's write count it has a position that orders it in the run.
 * reverse-stepi goes to the selected vCPU's previous instruction; reverse-continue replays up
 * to the current moment noting each breakpoint and watchpoint hit, then replays to the last one.
 *
 * A replay need not emulate the whole run again: every `checkpointInsns` instructions the run
 * leaves a checkpoint of the machine between two rounds (src/emu/checkpoint.ts), and a replay
 * that reaches the end of a round with the host's state as it was at a later checkpoint -- no
 * host call, host write, port write, run() or acting round hook in between (Machine.hostEffects),
 * no record drained into the event log -- restores that checkpoint instead of running up to it.
 * The host code itself runs again from boot, as the session does it: its state is objects and
 * generators that cannot be copied, and it is rebuilt exactly by running it. What a replay skips
 * is the guest's code between the host's moments, which is most of a run. reverse-continue looks
 * for the last hit in the window from the checkpoint before the current moment, then from
 * further and further back (two, four... checkpoints), as rr does.
 */
import { resolve } from 'node:path';
import type { Kernel } from '../kernel/index.ts';
import { cpuCurr } from '../kernel/index.ts';
import type { DebugStop, Machine } from '../emu/index.ts';
import { fromHex, hex, hexText, PacketChannel, unescapeBinary, escapeBinary } from './protocol.ts';
import { GdbListener, type GdbConnection, type ListenAddress } from './socket.ts';
import { readRegister, readRegisters, REGISTERS, targetXml, writeRegister, writeRegisters } from './registers.ts';
import { builtinMonitor, type MonitorCommand, runMonitor } from './monitor.ts';
import { type Mark, SessionCheckpoints } from './checkpoints.ts';

/** Where a stop is, so that a replay of the session can stop there again. */
export type StopPoint =
  { at: 'start' } | { at: 'cpu'; cpu: number; count: bigint } | { at: 'host'; hostWrites: number } | { at: 'round'; rounds: number };

/** A moment's place in the run: instructions run by all vCPUs, then the host's writes. */
export interface Position {
  insns: bigint;
  hostWrites: number;
}

export interface Stop {
  point: StopPoint;
  pos: Position;
  /** gdb's thread (vCPU + 1) the stop is reported on. */
  thread: number;
  signal: number;
  /** The stop reply's `n:r;` pairs: `swbreak:;`, `watch:ADDR;`, `replaylog:begin;`... */
  reason: string;
  /** Said on gdb's console when it stops here (who wrote a watched word from the host). */
  note?: string;
}

export function comparePositions(a: Position, b: Position): number {
  if (a.insns !== b.insns) return a.insns < b.insns ? -1 : 1;
  return a.hostWrites - b.hostWrites;
}

/** Thrown through the session to leave a run the debugger is done with (it goes back in time). */
export class GdbRewind extends Error {
  constructor() {
    super('the debugger went back in time: this run of the session is abandoned');
    this.name = 'GdbRewind';
  }
}

type Mode =
  | { kind: 'live' }
  | { kind: 'detached' }
  /** Replaying to `target`, where gdb gets control again. */
  | { kind: 'seek'; target: Stop }
  /**
   * Replaying up to `until` (gdb's current stop), noting the hits from `from` on; `back`: how
   * many checkpoints before `until` `from` is (0: from the start of the session).
   */
  | { kind: 'record'; until: Stop; from: Position; back: number; hits: Stop[] };

interface Watch {
  address: bigint;
  length: number;
  type: 2 | 3 | 4; // Z2 write, Z3 read, Z4 access
}

/** What a lab must offer the stub. */
export interface GdbLab {
  readonly k: Kernel;
  close(): void;
}

export interface GdbSession<L extends GdbLab, T> {
  /** Boots the lab the session runs on; called again for every replay, it must boot the same lab. */
  boot(): Promise<L>;
  /** Runs the session on a booted lab, synchronously (steps, a run of N ms...). */
  run(lab: L): T;
  /** Where to listen; the lab waits for gdb there before the session's first instruction. */
  listen: ListenAddress;
  /** Told the address once the stub listens (port 0 picks a free port). */
  onListening?(address: ListenAddress): void;
  /** `monitor` commands beyond the stub's own, on the lab of the current run. */
  monitor?(lab: L): Record<string, MonitorCommand>;
  /** Instructions between two checkpoints (default CHECKPOINT_INSNS; 0: none, every replay runs from boot). */
  checkpointInsns?: number;
}

/**
 * Between two checkpoints: about 0.1 s of emulation. A checkpoint costs a comparison of RAM
 * (a few ms for 64 MiB) and the pages that changed; a replay emulates at most this much of
 * each stretch between two of the host's moments.
 */
export const CHECKPOINT_INSNS = 1_000_000;

const STOP_SIGTRAP = 5;
const STOP_SIGINT = 2;
/** How often (in rounds) a running machine looks for gdb's Ctrl-C. */
const INTERRUPT_POLL_ROUNDS = 8;

export class GdbStub<L extends GdbLab> {
  private mode: Mode = { kind: 'live' };
  private nextMode: Mode | null = null;
  private readonly breakpoints = new Set<bigint>();
  private readonly watches: Watch[] = [];
  private current!: Stop;
  private startStop!: Stop;
  private startCounts: bigint[] = [];
  private gThread = 1;
  private cThread = 1;
  /** gdb wrote memory or registers: the replay would not see it, so no going back. */
  private wrote = false;
  private lab!: L;
  private hostTarget = -1;
  private roundTarget = -1;
  private readonly afterRound = (m: Machine) => this.roundEnd(m);
  private monitorCommands: Record<string, MonitorCommand> = {};
  /** Replays made so far (for `monitor position` and the tests). */
  replays = 0;
  private readonly checkpoints: SessionCheckpoints;
  /** This run's instruction count when it began, and what checkpoints let it skip since. */
  private runStart = 0n;
  private runSkipped = 0n;
  /** What the last reverse command cost: instructions emulated again, skipped, checkpoints restored. */
  private cost = { reran: 0n, skipped: 0n, restores: 0 };

  constructor(
    private readonly ch: PacketChannel,
    private readonly extraMonitor?: (lab: L) => Record<string, MonitorCommand>,
    checkpointInsns = CHECKPOINT_INSNS,
  ) {
    this.checkpoints = new SessionCheckpoints(checkpointInsns);
  }

  private get k(): Kernel {
    return this.lab.k;
  }
  private get m(): Machine {
    return this.lab.k.machine;
  }

  position(): Position {
    return { insns: this.m.insns, hostWrites: this.k.mem.hostWrites };
  }

  // ---------------------------------------------------------------------------------------
  // One run of the session

  /** Hooks this run's lab: breakpoints and watchpoints as gdb set them, the stop handlers. */
  attach(lab: L): void {
    this.lab = lab;
    const m = this.m;
    this.monitorCommands = { ...builtinMonitor(lab.k, this), ...(this.extraMonitor?.(lab) ?? {}) };
    m.onDebugStop = (s) => this.machineStop(s);
    this.k.mem.onHostWrite = (a, n) => this.hostWrite(a, n);
    m.afterRound.push(this.afterRound);
    for (const b of this.breakpoints) m.addBreakpoint(b);
    for (const w of this.watches) m.addWatchpoint(w.address, w.length, { read: w.type !== 2, write: w.type !== 3 });
    this.startCounts = m.cpus.map((c) => c.insns);
    this.startStop = { point: { at: 'start' }, pos: this.position(), thread: 1, signal: STOP_SIGTRAP, reason: '' };
    this.runStart = m.insns;
    this.runSkipped = 0n;
  }

  detachLab(): void {
    const m = this.m;
    m.onDebugStop = null;
    this.k.mem.onHostWrite = null;
    const i = m.afterRound.indexOf(this.afterRound);
    if (i >= 0) m.afterRound.splice(i, 1);
    for (const b of this.breakpoints) m.removeBreakpoint(b);
    for (const w of this.watches) m.removeWatchpoint(w.address, w.length);
    for (let c = 0; c < m.cpus.length; c++) m.breakAtCount(c, null);
  }

  /** The session is about to run its first instruction. */
  sessionStart(): void {
    const mode = this.mode;
    if (mode.kind === 'live') {
      this.current = this.startStop;
      this.commandLoop(false);
    } else if (mode.kind === 'seek') {
      this.arm(mode.target.point);
      if (mode.target.point.at === 'start') this.arrive(mode.target);
    } else if (mode.kind === 'record') {
      if (mode.until.point.at === 'start') this.finishRecord(mode);
      this.arm(mode.until.point);
    }
  }

  /** The session ended: gdb is told the "process" exited. */
  sessionEnd(): void {
    if (this.mode.kind !== 'detached') this.ch.send('W00');
    this.mode = { kind: 'detached' };
  }

  /** A replay asked for by gdb (set while leaving the abandoned run). */
  takeReplay(): boolean {
    if (!this.nextMode) return false;
    this.mode = this.nextMode;
    this.nextMode = null;
    this.replays++;
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Stops

  private arm(p: StopPoint): void {
    this.hostTarget = p.at === 'host' ? p.hostWrites : -1;
    this.roundTarget = p.at === 'round' ? p.rounds : -1;
    if (p.at === 'cpu') this.m.breakAtCount(p.cpu, p.count);
  }

  private disarm(): void {
    this.hostTarget = this.roundTarget = -1;
    for (let c = 0; c < this.m.cpus.length; c++) if (this.m.cpus[c].ctl.breakAt !== NO_BREAK) this.m.breakAtCount(c, null);
  }

  private machineStop(s: DebugStop): void {
    if (this.mode.kind === 'detached') return;
    const cpu = this.m.cpus[s.cpu];
    const point: StopPoint = { at: 'cpu', cpu: s.cpu, count: cpu.insns };
    const stepped = cpu.ctl.breakAt === cpu.insns;
    let reason = '';
    if (s.watch) {
      const w = this.watches.find((x) => s.watch!.address < x.address + BigInt(x.length) && s.watch!.address >= x.address);
      const kind = w?.type === 3 ? 'rwatch' : w?.type === 4 ? 'awatch' : 'watch';
      reason = `${kind}:${(w?.address ?? s.watch.address).toString(16)};`;
    } else if (this.breakpoints.has(s.pc)) reason = 'swbreak:;';
    const hit = reason !== '';
    this.stopAt({ point, pos: this.position(), thread: s.cpu + 1, signal: STOP_SIGTRAP, reason }, hit, stepped);
  }

  private hostWrite(address: bigint, length: number): void {
    if (this.mode.kind === 'detached') return;
    const hw = this.k.mem.hostWrites;
    const end = address + BigInt(length);
    const w = this.watches.find((x) => x.type !== 3 && address < x.address + BigInt(x.length) && end > x.address);
    const target = hw === this.hostTarget;
    if (!w && !target) return;
    const reason = w ? `${w.type === 4 ? 'awatch' : 'watch'}:${w.address.toString(16)};` : '';
    const note = w ? `klp-lab: the host wrote 0x${address.toString(16)} (${length} bytes) in ${hostCaller()}\n` : undefined;
    const stop: Stop = {
      point: { at: 'host', hostWrites: hw },
      pos: this.position(),
      thread: this.gThread,
      signal: STOP_SIGTRAP,
      reason,
      note,
    };
    this.stopAt(stop, !!w, target);
  }

  private roundEnd(m: Machine): void {
    if (this.mode.kind === 'detached') return;
    const point: StopPoint = { at: 'round', rounds: m.rounds };
    if (m.rounds === this.roundTarget) {
      this.stopAt({ point, pos: this.position(), thread: this.gThread, signal: STOP_SIGINT, reason: '' }, false, true);
      return;
    }
    if (this.mode.kind === 'live' && m.rounds % INTERRUPT_POLL_ROUNDS === 0 && this.ch.interrupted())
      this.stopAt({ point, pos: this.position(), thread: this.gThread, signal: STOP_SIGINT, reason: '' }, false, true);
    if (!this.skip(m)) this.checkpoint();
  }

  // ---------------------------------------------------------------------------------------
  // Checkpoints

  /** At the end of a round past the latest checkpoint (not after gdb wrote: no replay makes that run). */
  private checkpoint(): void {
    if (!this.wrote && this.mode.kind !== 'detached') this.checkpoints.take(this.k);
  }

  /**
   * In a replay: goes on from the latest checkpoint ahead that comes before where the replay
   * must emulate again (its target; for reverse-continue, the start of the window it records
   * hits in) and was taken with the host's state as it is now. True if it did.
   */
  private skip(m: Machine): boolean {
    const mode = this.mode;
    if (mode.kind !== 'seek' && mode.kind !== 'record') return false;
    const insns = m.insns;
    const mark = this.checkpoints.skip(this.k, (k) =>
      mode.kind === 'seek' ? beforePoint(k, mode.target.point) : comparePositions(markPosition(k), mode.from) <= 0,
    );
    if (!mark) return false;
    this.runSkipped += mark.ck.insns - insns;
    this.cost.restores++;
    // counts moved: where the replay stops is armed again (a step's hook goes on near it)
    this.arm(mode.kind === 'seek' ? mode.target.point : mode.until.point);
    return true;
  }

  /** The instructions this run emulated and skipped, added to the reverse command's cost. */
  private account(): void {
    this.cost.reran += this.m.insns - this.runStart - this.runSkipped;
    this.cost.skipped += this.runSkipped;
    this.runStart = this.m.insns;
    this.runSkipped = 0n;
  }

  /** reverse-continue's window: from the `back`th checkpoint before `until`, or from the start. */
  private recordWindow(until: Stop, back: number): Mode {
    const before = this.checkpoints.marks.filter((k) => comparePositions(markPosition(k), until.pos) < 0);
    const mark = back > 0 && back <= before.length ? before[before.length - back] : undefined;
    return { kind: 'record', until, from: mark ? markPosition(mark) : this.startStop.pos, back: mark ? back : 0, hits: [] };
  }

  /**
   * Every stop goes through here. `hit`: a breakpoint or watchpoint (what reverse-continue looks
   * for); `trigger`: the moment a step, a replay or Ctrl-C asked for.
   */
  private stopAt(stop: Stop, hit: boolean, trigger: boolean): void {
    const mode = this.mode;
    switch (mode.kind) {
      case 'live':
        if (!hit && !trigger) return;
        this.disarm();
        this.current = stop;
        this.commandLoop(true);
        return;
      case 'seek':
        if (samePoint(stop.point, mode.target.point, this.m)) this.arrive(mode.target);
        return;
      case 'record':
        if (comparePositions(stop.pos, mode.until.pos) >= 0 || samePoint(stop.point, mode.until.point, this.m)) this.finishRecord(mode);
        else if (hit && comparePositions(stop.pos, mode.from) >= 0) mode.hits.push(stop);
        return;
      case 'detached':
        return;
    }
  }

  private arrive(target: Stop): void {
    this.account();
    this.mode = { kind: 'live' };
    this.disarm();
    this.current = { ...target, pos: this.position() };
    this.commandLoop(true);
  }

  private finishRecord(mode: Extract<Mode, { kind: 'record' }>): never {
    this.account();
    const last = mode.hits.at(-1);
    if (!last && mode.back > 0) throw this.replayMode(this.recordWindow(mode.until, mode.back * 2));
    throw this.replay(last ?? { ...this.startStop, reason: 'replaylog:begin;' });
  }

  /** Leaves this run: the session is booted and run again up to `target`. */
  private replay(target: Stop): GdbRewind {
    return this.replayMode({ kind: 'seek', target });
  }

  private replayMode(mode: Mode): GdbRewind {
    this.nextMode = mode;
    this.mode = { kind: 'detached' };
    this.m.stop({ kind: 'dead', message: 'the debugger went back in time' });
    return new GdbRewind();
  }

  // ---------------------------------------------------------------------------------------
  // The conversation while stopped

  private stopReply(s: Stop): string {
    return `T${s.signal.toString(16).padStart(2, '0')}thread:${s.thread.toString(16)};${s.reason}`;
  }

  private cpuOf(thread: number): number {
    const n = this.m.cpus.length;
    return thread >= 1 && thread <= n ? thread - 1 : this.current.thread - 1;
  }

  /** Answers gdb until it resumes (returns: the machine goes on) or goes back (throws GdbRewind). */
  private commandLoop(reply: boolean): void {
    // as gdbserver does: after a stop, the thread that stopped is the one `g` and `s` act on
    this.gThread = this.cThread = this.current.thread;
    if (reply) {
      if (this.current.note) this.ch.send('O' + hexText(this.current.note));
      this.ch.send(this.stopReply(this.current));
    }
    for (;;) {
      const inc = this.ch.next();
      if (inc.kind === 'eof') {
        this.detach();
        return;
      }
      if (inc.kind === 'interrupt') continue; // already stopped
      const raw = inc.data;
      if (raw[0] === 0x58 /* X */) {
        this.ch.send(this.writeBinary(raw));
        continue;
      }
      const p = raw.toString('latin1');
      const r = this.handle(p);
      if (r === 'resume') return;
      if (r !== null) this.ch.send(r);
    }
  }

  /** One packet: the reply, null when there is none, 'resume' when the machine goes on. */
  private handle(p: string): string | null | 'resume' {
    const m = this.m;
    if (p.startsWith('qSupported'))
      return 'PacketSize=4000;qXfer:features:read+;qXfer:exec-file:read+;swbreak+;hwbreak+;vContSupported+;ReverseStep+;ReverseContinue+;QStartNoAckMode+';
    if (p === 'QStartNoAckMode') {
      this.ch.send('OK');
      this.ch.noAck();
      return null;
    }
    if (p === '?') return this.stopReply(this.current);
    if (p[0] === 'H') {
      const t = parseInt(p.slice(2), 16);
      if (t > 0) {
        if (p[1] === 'g') this.gThread = t;
        else this.cThread = t;
      }
      return 'OK';
    }
    if (p === 'g') return hex(readRegisters(m.cpus[this.cpuOf(this.gThread)]));
    if (p[0] === 'G') {
      writeRegisters(m.cpus[this.cpuOf(this.gThread)], fromHex(p.slice(1)));
      this.wrote = true;
      return 'OK';
    }
    if (p[0] === 'p') {
      const n = parseInt(p.slice(1), 16);
      return n < REGISTERS.length ? hex(readRegister(m.cpus[this.cpuOf(this.gThread)], n)) : 'E00';
    }
    if (p[0] === 'P') {
      const [n, v] = p.slice(1).split('=');
      if (parseInt(n, 16) >= REGISTERS.length) return 'E00';
      this.wrote = true;
      return writeRegister(m.cpus[this.cpuOf(this.gThread)], parseInt(n, 16), fromHex(v)) ? 'OK' : 'E01';
    }
    if (p[0] === 'm') {
      const [a, n] = p.slice(1).split(',');
      const addr = BigInt('0x' + a);
      const len = parseInt(n, 16);
      if (!this.k.mem.contains(addr, len)) return 'E14';
      return hex(this.k.mem.bytes(addr, len));
    }
    if (p[0] === 'M') {
      const [where, data] = p.slice(1).split(':');
      const [a] = where.split(',');
      return this.writeMemory(BigInt('0x' + a), fromHex(data));
    }
    if (p[0] === 'Z' || p[0] === 'z') return this.breakpoint(p);
    if (p === 'qfThreadInfo') return 'm' + m.cpus.map((c) => (c.index + 1).toString(16)).join(',');
    if (p === 'qsThreadInfo') return 'l';
    if (p === 'qC') return `QC${this.current.thread.toString(16)}`;
    if (p === 'qAttached') return '1';
    if (p.startsWith('qThreadExtraInfo,')) return hexText(this.threadName(this.cpuOf(parseInt(p.slice(17), 16))));
    if (p[0] === 'T') {
      const t = parseInt(p.slice(1), 16);
      return t >= 1 && t <= m.cpus.length ? 'OK' : 'E01';
    }
    if (p.startsWith('qXfer:features:read:target.xml:')) return xferChunk(targetXml(), p.slice(31));
    // the image, so that `target remote` alone gives gdb the symbols
    if (p.startsWith('qXfer:exec-file:read:')) return xferChunk(resolve(this.k.image.path), p.slice(p.lastIndexOf(':') + 1));
    if (p.startsWith('qRcmd,')) {
      const text = runMonitor(this.monitorCommands, fromHex(p.slice(6)).toString('latin1'));
      for (let i = 0; i < text.length; i += 1000) this.ch.send('O' + hexText(text.slice(i, i + 1000)));
      return 'OK';
    }
    if (p === 'qSymbol::') return 'OK';
    if (p === 'vCont?') return 'vCont;c;C;s;S';
    if (p.startsWith('vCont;')) return this.vCont(p.slice(6));
    if (p[0] === 'c' || p[0] === 'C') return 'resume';
    if (p[0] === 's' || p[0] === 'S') {
      this.step(this.cpuOf(this.cThread));
      return 'resume';
    }
    if (p === 'bc') return this.reverseContinue();
    if (p === 'bs') return this.reverseStep(this.cpuOf(this.cThread));
    if (p[0] === 'D') {
      this.ch.send('OK');
      this.detach();
      return 'resume';
    }
    if (p === 'k' || p.startsWith('vKill')) {
      if (p !== 'k') this.ch.send('OK');
      this.detach();
      return 'resume';
    }
    return '';
  }

  private vCont(actions: string): 'resume' {
    // one machine: every thread runs; a thread told to step stops after its next instruction
    for (const a of actions.split(';')) {
      const [act, t] = a.split(':');
      if (act[0] === 's' || act[0] === 'S') this.step(t ? this.cpuOf(parseInt(t, 16)) : this.cpuOf(this.cThread));
    }
    return 'resume';
  }

  private step(cpu: number): void {
    this.m.breakAtCount(cpu, this.m.cpus[cpu].insns + 1n);
  }

  private reverseContinue(): string {
    if (this.wrote) return 'E.reverse execution: gdb wrote memory or registers, which a replay would not do';
    this.cost = { reran: 0n, skipped: 0n, restores: 0 };
    throw this.replayMode(this.recordWindow(this.current, 1));
  }

  private reverseStep(cpu: number): string {
    if (this.wrote) return 'E.reverse execution: gdb wrote memory or registers, which a replay would not do';
    this.cost = { reran: 0n, skipped: 0n, restores: 0 };
    const count = this.m.cpus[cpu].insns - 1n;
    if (count < this.startCounts[cpu]) throw this.replay({ ...this.startStop, thread: cpu + 1, reason: 'replaylog:begin;' });
    throw this.replay({
      point: { at: 'cpu', cpu, count },
      pos: { insns: 0n, hostWrites: 0 }, // found again by its point, not its position
      thread: cpu + 1,
      signal: STOP_SIGTRAP,
      reason: '',
    });
  }

  private breakpoint(p: string): string {
    const [type, a, kind] = p.slice(1).split(',');
    const addr = BigInt('0x' + a);
    const insert = p[0] === 'Z';
    const m = this.m;
    if (type === '0' || type === '1') {
      if (insert) {
        this.breakpoints.add(addr);
        m.addBreakpoint(addr);
      } else {
        this.breakpoints.delete(addr);
        m.removeBreakpoint(addr);
      }
      return 'OK';
    }
    if (type === '2' || type === '3' || type === '4') {
      const length = parseInt(kind, 16);
      const t = Number(type) as Watch['type'];
      const i = this.watches.findIndex((w) => w.address === addr && w.length === length && w.type === t);
      if (insert && i < 0) {
        this.watches.push({ address: addr, length, type: t });
        m.addWatchpoint(addr, length, { read: t !== 2, write: t !== 3 });
      } else if (!insert && i >= 0) {
        this.watches.splice(i, 1);
        m.removeWatchpoint(addr, length);
      }
      return 'OK';
    }
    return '';
  }

  /** gdb's writes go straight to RAM (not counted as the host's) and drop translated code over them. */
  private writeMemory(addr: bigint, data: Buffer): string {
    if (!this.k.mem.contains(addr, data.length)) return 'E14';
    this.k.mem.bytes(addr, data.length).set(data);
    for (const c of this.m.cpus) c.uc.tbRemoveCache(addr, addr + BigInt(data.length));
    if (data.length) this.wrote = true;
    return 'OK';
  }

  private writeBinary(raw: Buffer): string {
    const colon = raw.indexOf(0x3a);
    const [a] = raw.subarray(1, colon).toString('latin1').split(',');
    return this.writeMemory(BigInt('0x' + a), unescapeBinary(raw.subarray(colon + 1)));
  }

  /** "cpu1 (kdeep/0:12)": the vCPU and the task current on it. */
  threadName(cpu: number): string {
    try {
      const t = cpuCurr(this.k, cpu);
      return `cpu${cpu} (${t.comm}:${t.pid})`;
    } catch {
      return `cpu${cpu}`;
    }
  }

  /** gdb is gone or let go: breakpoints and watchpoints go, the session runs on to its end. */
  private detach(): void {
    this.mode = { kind: 'detached' };
    this.detachLab();
    this.breakpoints.clear();
    this.watches.length = 0;
  }

  /** For `monitor position`. */
  describePosition(): string {
    const p = this.position();
    const counts = this.m.cpus.map((c) => `cpu${c.index} ${c.insns}`).join(', ');
    const c = this.cost;
    return (
      `instructions ${p.insns} (${counts}), host writes ${p.hostWrites}, round ${this.m.rounds}, replays ${this.replays}\n` +
      `checkpoints ${this.checkpoints.marks.length} (${(this.checkpoints.bytes / 2 ** 20).toFixed(1)} MiB); the last reverse command ` +
      `re-ran ${c.reran} instructions after boot and skipped ${c.skipped} (${c.restores} checkpoints restored)\n`
    );
  }

  /** What the last reverse command cost (for the tests and the bench). */
  get reverseCost(): { reran: bigint; skipped: bigint; restores: number } {
    return { ...this.cost };
  }
}

const NO_BREAK = 0xffff_ffff_ffff_ffffn;

/** One qXfer chunk of `text` for `off,len`: `m` and more to come, or `l` and the last part. */
function xferChunk(text: string, range: string): string {
  const [off, len] = range.split(',').map((x) => parseInt(x, 16));
  const all = Buffer.from(text, 'latin1');
  const part = all.subarray(off, off + len);
  return Buffer.concat([Buffer.from(off + len >= all.length ? 'l' : 'm'), escapeBinary(part)]).toString('latin1');
}

function markPosition(mark: Mark): Position {
  return { insns: mark.ck.insns, hostWrites: mark.hostWrites };
}

/** Whether a replay that goes on from the checkpoint still comes to the point (it lies ahead). */
function beforePoint(mark: Mark, p: StopPoint): boolean {
  switch (p.at) {
    case 'start':
      return false;
    case 'cpu':
      return mark.ck.counts[p.cpu] <= p.count;
    case 'host':
      return mark.hostWrites < p.hostWrites;
    case 'round':
      return mark.ck.rounds < p.rounds;
  }
}

function samePoint(a: StopPoint, b: StopPoint, m: Machine): boolean {
  if (a.at !== b.at) return false;
  if (a.at === 'cpu' && b.at === 'cpu') return a.cpu === b.cpu && m.cpus[a.cpu].insns === b.count;
  if (a.at === 'host' && b.at === 'host') return a.hostWrites === b.hostWrites;
  if (a.at === 'round' && b.at === 'round') return a.rounds === b.rounds;
  return true;
}

/** The host function that wrote guest memory (the first caller outside the memory and the stub). */
function hostCaller(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const names = frames
    .map((l) => /at (?:new )?([\w.$<>]+) \(/.exec(l)?.[1])
    // the memory's hook is named after what it was assigned to (Object.onHostWrite under tsx,
    // k.mem.onHostWrite in the command's bundle)
    .filter((n): n is string => !!n && !/^(GuestMemory|GdbStub)\./.test(n) && !/(^|\.)onHostWrite$/.test(n) && n !== 'hostCaller');
  return names.slice(0, 3).join(' <- ') || 'host code';
}

/**
 * Serves one gdb over a session: listens, boots, waits for gdb before the session's first
 * instruction, and replays the session as often as gdb goes back. Returns the lab of the run
 * that reached the end (the caller reports on it and closes it) and what the session returned.
 */
export async function serveGdb<L extends GdbLab, T>(session: GdbSession<L, T>): Promise<{ lab: L; result: T; stub: GdbStub<L> }> {
  // booted before listening: gdb that connects is answered at once (its remote timeout is 2 s)
  let lab = await session.boot();
  let listener: GdbListener;
  try {
    listener = new GdbListener(session.listen);
  } catch (e) {
    lab.close();
    throw e;
  }
  let conn: GdbConnection | undefined;
  try {
    session.onListening?.(listener.address);
    try {
      conn = listener.accept();
    } catch (e) {
      lab.close();
      throw e;
    }
    const stub = new GdbStub<L>(new PacketChannel(conn), session.monitor, session.checkpointInsns);
    for (;;) {
      stub.attach(lab);
      let result: T | undefined;
      let error: unknown;
      let failed = false;
      try {
        stub.sessionStart();
        result = session.run(lab);
      } catch (e) {
        failed = true;
        error = e;
      }
      if (stub.takeReplay()) {
        lab.close();
        lab = await session.boot();
        continue;
      }
      stub.detachLab();
      stub.sessionEnd();
      if (failed) {
        lab.close();
        throw error;
      }
      return { lab, result: result as T, stub };
    }
  } finally {
    conn?.close();
    listener.close();
  }
}
