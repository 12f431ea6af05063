// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The firmware's event ring (printk messages and scheduler/fork/signal events), drained after
 * every round into the host's log. The log's hash is the determinism check: the same image,
 * options and seed must give the same hash.
 *
 * Long runs need flat memory, so the host keeps only the most recent `capacity` entries (guest
 * records and host printk lines, in order), as the kernel's printk buffer does. What must never
 * be lost goes elsewhere: the digest is updated with every record as it is drained, and the
 * counters (records, warnings with the first ones' text, oopses, lost cpus, panics) are kept
 * for the whole run. A reader that wants "everything since X" takes a cursor and gets a LogOverrunError if
 * entries it wanted have been dropped since -- as reading /dev/kmsg gives EPIPE -- rather than
 * silently fewer lines.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Target } from './task.ts';

/**
 * Host records of the kernel's own layer (hostEvent): a module's state as the loader moves it
 * (a: 0, text "STATE NAME", STATE coming, live, going or gone) and a write to a sysfs file
 * (a: 0 or the refusing errno's number, text "PATH=VALUE").
 */
export const EV_MODULE = 'module';
export const EV_SYSFS_WRITE = 'sysfs_write';

export interface LabEvent {
  seq: number;
  tsNs: number;
  type: string;
  cpu: number;
  pid: number;
  a: number;
  b: number;
  c: number;
  text: string;
}

/** Entries a cursor wanted were dropped from the log before they were read. */
export class LogOverrunError extends Error {
  constructor(
    readonly cursor: number,
    readonly first: number,
    readonly capacity: number,
  ) {
    super(
      `kernel log overrun: entries ${cursor}..${first - 1} were dropped before they were read ` +
        `(the log keeps the latest ${capacity}; read more often or boot with a larger logCapacity)`,
    );
    this.name = 'LogOverrunError';
  }
}

/** What the log counts over the whole run, however few entries it still holds. */
export interface LogCounters {
  /** Entries logged so far (guest records and host lines): the next cursor. */
  records: number;
  /** Entries dropped from the host's log to keep it within its capacity. */
  dropped: number;
  /** Guest records overwritten in the firmware's ring before the host drained them. */
  lostInGuest: number;
  /** printk lines starting with "WARNING:" (WARN(), WARN_ON(), the core's WARN_ON). */
  warnings: number;
  /** The first of them (up to WARNINGS_KEPT) and the latest, with their timestamps. */
  firstWarnings: string[];
  lastWarning?: string;
  /** Guest faults (oops reports) and panics that stopped the machine. */
  oopses: number;
  panics: number;
  /** What the latest of them was (the fault or the panic message), if it said. */
  lastStop?: string;
  /** The cpu the latest of them happened on. */
  lastStopCpu?: number;
  /** Of the oopses, cpus found halted with interrupts off while online (hard lockups). */
  lostCpus: number;
}

const WARNINGS_KEPT = 32;
/** Default capacity: ~15 MB when full, plus printk texts; the ring starts small and grows to it. */
export const LOG_CAPACITY = 262_144;
const INITIAL_SLOTS = 4096;

export class EventLog {
  /**
   * Guest records as their fixed fields (the bytes before `text`), slot = position % slots,
   * decoded on demand; a printk record's text, read when drained, beside it. Most records are
   * scheduler events with no text: this keeps ~50 bytes of the 304 a record has in the ring.
   */
  private hdr: Uint32Array;
  private hv: DataView;
  private texts: Array<string | undefined>;
  private slots: number;
  /** Host printk lines and host records by position (in position order). */
  private readonly hostLines = new Map<number, LabEvent>();
  /** Entries ever logged; entries [first, total) are held. */
  private total = 0;
  private first = 0;
  /** Decoded entries [winFirst, winFirst + win.length), what `events` returns. */
  private win: LabEvent[] = [];
  private winFirst = 0;
  private readonly counts: LogCounters = {
    records: 0,
    dropped: 0,
    lostInGuest: 0,
    warnings: 0,
    firstWarnings: [],
    oopses: 0,
    panics: 0,
    lostCpus: 0,
  };
  private lastSeq = 0;
  /** Entries [0, hashed) are in the digest; guest records are copied first, then hashed. */
  private hashed = 0;
  private hash: Hash = createHash('sha256');
  /** EV_* names by type number (lower case, without the prefix). */
  private readonly typeNames: string[] = [];
  private readonly ringAddress: bigint;
  private readonly ringOffset: number;
  private readonly textMax: number;
  private readonly printkType: number;
  private readonly stride: number;
  private readonly guestSlots: number;
  private readonly off: Record<string, number>;
  /** Bytes and 32-bit words of a record before its text: what the host keeps of each. */
  private readonly hdrBytes: number;
  private readonly hdrWords: number;

  constructor(
    private readonly t: Target,
    readonly capacity = LOG_CAPACITY,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`log capacity must be a positive integer, not ${capacity}`);
    const L = t.layout;
    for (const [name, v] of L.constants('EV_')) this.typeNames[v] = name.slice(3).toLowerCase();
    this.ringAddress = t.sym('event_ring');
    this.ringOffset = t.mem.offset(this.ringAddress, L.sizeof('lab_event_ring'));
    this.textMax = L.constant('LAB_EVENT_TEXT');
    this.printkType = L.constant('EV_PRINTK');
    this.stride = L.sizeof('lab_event');
    this.guestSlots = L.constant('LAB_EVENT_RING');
    this.off = Object.fromEntries(['seq', 'ts_ns', 'type', 'cpu', 'pid', 'a', 'b', 'c', 'text'].map((m) => [m, L.offset('lab_event', m)]));
    this.off.head = L.offset('lab_event_ring', 'head');
    this.off.ev = L.offset('lab_event_ring', 'ev');
    this.hdrBytes = this.off.text;
    this.hdrWords = this.hdrBytes / 4;
    // the copy reads the guest ring a 32-bit word at a time
    if (this.hdrBytes % 4 || this.stride % 4 || (this.ringOffset + this.off.ev) % 4)
      throw new Error(`event ring: records must be 4-byte aligned (stride ${this.stride}, text at ${this.hdrBytes})`);
    this.slots = Math.min(capacity, INITIAL_SLOTS);
    this.hdr = new Uint32Array(this.slots * this.hdrWords);
    this.hv = new DataView(this.hdr.buffer);
    this.texts = new Array<string | undefined>(this.slots);
  }

  /** Guest records overwritten in the firmware's ring before the host read them. */
  get lost(): number {
    this.drain();
    return this.counts.lostInGuest;
  }

  /** The run's counters (a copy). */
  counters(): LogCounters {
    this.drain();
    return { ...this.counts, firstWarnings: [...this.counts.firstWarnings], records: this.total, dropped: this.first };
  }

  /** Host bytes the log holds for its entries (records and text pointers; decoded entries and strings come on top). */
  /** The guest's records taken so far (drain() moves it): the log is the same while this is. */
  get drained(): number {
    return this.lastSeq;
  }

  get retainedBytes(): number {
    return this.hdr.byteLength + this.texts.length * 8;
  }

  private head(): number {
    const view = this.t.mem.view;
    const at = this.ringOffset + this.off.head;
    return view.getUint32(at, true) + view.getUint32(at + 4, true) * 4294967296;
  }

  /** Called after every round: drains only once the ring is a quarter full, so rounds stay cheap. */
  poll(): void {
    if (this.head() - this.lastSeq > this.guestSlots / 4) this.drain();
  }

  /**
   * Reads every record published since the last drain, up to the first slot taken and not yet
   * published (its writer was stopped mid-record at the end of its quantum): that one and
   * those after it are read by a later drain, once it is.
   */
  drain(): void {
    const view = this.t.mem.view;
    const ring = this.ringOffset;
    const head = this.head();
    if (head === this.lastSeq) return;
    let seq = this.lastSeq + 1;
    if (head - this.lastSeq > this.guestSlots) {
      this.counts.lostInGuest += head - this.guestSlots - this.lastSeq;
      seq = head - this.guestSlots + 1;
    }
    const o = this.off;
    const buf = this.t.mem.buffer;
    const first = ring + o.ev;
    let runStart = -1;
    let runEnd = -1;
    for (; seq <= head; seq++) {
      const rec = first + ((seq - 1) % this.guestSlots) * this.stride;
      if (view.getUint32(rec + o.seq, true) + view.getUint32(rec + o.seq + 4, true) * 4294967296 !== seq) break;
      // copied a contiguous run at a time
      if (rec !== runEnd) {
        if (runStart >= 0) this.takeRun(buf, runStart, runEnd);
        runStart = rec;
      }
      runEnd = rec + this.stride;
    }
    if (runStart >= 0) this.takeRun(buf, runStart, runEnd);
    this.lastSeq = seq - 1;
  }

  /**
   * Copies a run of published records into the log. The digest covers what the log keeps of
   * each record: its fixed fields (the copy, hashed a stretch at a time) and a printk record's
   * text; not the rest of its text buffer, which holds whatever an older record left there.
   * The stream hashed is the same however the stretches fall (ring size, capacity, drains).
   */
  private takeRun(buf: Buffer, start: number, end: number): void {
    const o = this.off;
    const view = this.t.mem.view;
    const g32 = new Uint32Array(buf.buffer, buf.byteOffset + start, (end - start) / 4);
    const words = this.hdrWords;
    const strideWords = this.stride / 4;
    for (let rec = start, src = 0; rec < end; rec += this.stride, src += strideWords) {
      if (this.total - this.first === this.slots) {
        if (this.slots < this.capacity) this.hashCopied(); // growing moves the copies
        this.makeRoom();
      }
      if (this.total % this.slots === 0) this.hashCopied(); // the copies wrap: the stretch hashed stays contiguous
      const slot = this.total % this.slots;
      const hdr = this.hdr;
      for (let i = 0, dst = slot * words; i < words; i++) hdr[dst + i] = g32[src + i];
      let text: string | undefined;
      if (view.getUint16(rec + o.type, true) === this.printkType) {
        text = cstring(buf, rec + o.text, this.textMax);
        this.total++;
        this.hashCopied();
        this.hash.update(text, 'latin1');
        if (text.startsWith('WARNING:'))
          this.warned(view.getUint32(rec + o.ts_ns, true) + view.getUint32(rec + o.ts_ns + 4, true) * 4294967296, text);
      } else this.total++;
      this.texts[slot] = text;
    }
    this.hashCopied();
  }

  /** Hashes the fixed fields of the records copied since the last call (a contiguous stretch of slots). */
  private hashCopied(): void {
    const n = this.total - this.hashed;
    if (n > 0) {
      const from = this.hashed % this.slots;
      this.hash.update(new Uint8Array(this.hdr.buffer, from * this.hdrBytes, n * this.hdrBytes));
    }
    this.hashed = this.total;
  }

  /** The ring is full: grow it up to capacity, or drop the oldest entry. */
  private makeRoom(): void {
    if (this.slots < this.capacity) {
      // nothing was dropped before the log reached its capacity: entry p is in slot p
      const slots = Math.min(this.capacity, this.slots * 2);
      const hdr = new Uint32Array(slots * this.hdrWords);
      hdr.set(this.hdr);
      this.hdr = hdr;
      this.hv = new DataView(hdr.buffer);
      this.texts.length = slots;
      this.slots = slots;
      return;
    }
    this.texts[this.first % this.slots] = undefined;
    this.hostLines.delete(this.first);
    this.first++;
  }

  private warned(tsNs: number, text: string): void {
    const line = `${formatTimestamp(tsNs)} ${text}`;
    if (this.counts.firstWarnings.length < WARNINGS_KEPT) this.counts.firstWarnings.push(line);
    this.counts.lastWarning = line;
    this.counts.warnings++;
  }

  /**
   * A kernel log line from the host's part of the kernel (the livepatch core): it joins the log
   * after everything the guest logged so far, with the current emulated time, and counts in the
   * digest like any other record. `level` is the syslog priority: the level alone for the
   * kernel's own lines, facility << 3 | level for a line written to /dev/kmsg.
   */
  hostPrintk(level: number, text: string, tsNs: number, cpu = 0): void {
    this.drain();
    const line = `host ${level} ${tsNs} ${text}\n`;
    this.hash.update(line);
    if (text.startsWith('WARNING:')) this.warned(tsNs, text);
    if (this.total - this.first === this.slots) this.makeRoom();
    this.texts[this.total % this.slots] = undefined;
    this.hostLines.set(this.total++, { seq: 0, tsNs, type: 'printk', cpu, pid: -1, a: level, b: 0, c: 1, text });
    this.hashed = this.total;
  }

  /**
   * A record of the host's part of the kernel that is not a log line: what the livepatch core
   * decided for a task, a transition's phases, a module's load, a sysfs write. The host does
   * these things itself, so no guest ring record tells them; they join the log in order with
   * the guest's records (after everything drained so far, at the current emulated time) and
   * count in the digest like them, so a trace built from the log shows what really happened.
   */
  hostEvent(type: string, tsNs: number, cpu: number, pid: number, a: number, b = 0, c = 0, text = ''): void {
    this.drain();
    this.hash.update(`host ${type} ${tsNs} ${cpu} ${pid} ${a} ${b} ${c} ${text}\n`);
    if (this.total - this.first === this.slots) this.makeRoom();
    this.texts[this.total % this.slots] = undefined;
    this.hostLines.set(this.total++, { seq: 0, tsNs, type, cpu, pid, a, b, c, text });
    this.hashed = this.total;
  }

  /** A guest oops, lost cpu or panic stopped the machine (Kernel.run reports it here before throwing). */
  noteStop(kind: 'oops' | 'lost cpu' | 'panic', what?: string, cpu?: number): void {
    if (what !== undefined) this.counts.lastStop = what;
    if (cpu !== undefined) this.counts.lastStopCpu = cpu;
    if (kind === 'panic') this.counts.panics++;
    else this.counts.oopses++;
    if (kind === 'lost cpu') this.counts.lostCpus++;
  }

  /** Position of the next entry: since(cursor()) later returns what was logged in between. */
  cursor(): number {
    this.drain();
    return this.total;
  }

  /** Entries from position `cursor` on; LogOverrunError if some of them were dropped already. */
  since(cursor: number): readonly LabEvent[] {
    const ev = this.events;
    if (cursor < this.first) throw new LogOverrunError(cursor, this.first, this.capacity);
    return ev.slice(Math.min(cursor, this.total) - this.winFirst);
  }

  /** The entries the log still holds (all of them until `capacity` is exceeded), in order. */
  get events(): readonly LabEvent[] {
    this.drain();
    if (this.winFirst < this.first) {
      this.win.splice(0, Math.min(this.win.length, this.first - this.winFirst));
      this.winFirst = this.first;
    }
    for (let p = this.winFirst + this.win.length; p < this.total; p++) this.win.push(this.entry(p));
    return this.win;
  }

  private entry(p: number): LabEvent {
    const host = this.hostLines.get(p);
    if (host) return host;
    const slot = p % this.slots;
    const v = this.hv;
    const o = this.off;
    const at = slot * this.hdrBytes;
    const type = v.getUint16(at + o.type, true);
    return {
      seq: v.getUint32(at + o.seq, true) + v.getUint32(at + o.seq + 4, true) * 4294967296,
      tsNs: v.getUint32(at + o.ts_ns, true) + v.getUint32(at + o.ts_ns + 4, true) * 4294967296,
      type: this.typeNames[type] ?? `type${type}`,
      cpu: v.getUint16(at + o.cpu, true),
      pid: v.getInt32(at + o.pid, true),
      a: v.getUint32(at + o.a, true) + v.getUint32(at + o.a + 4, true) * 4294967296,
      b: v.getUint32(at + o.b, true) + v.getUint32(at + o.b + 4, true) * 4294967296,
      c: v.getUint32(at + o.c, true) + v.getUint32(at + o.c + 4, true) * 4294967296,
      text: this.texts[slot] ?? '',
    };
  }

  /** sha256 of every event so far (a copy: logging can go on). */
  digest(): string {
    this.drain();
    return this.hash.copy().digest('hex');
  }

  ofType(type: string): LabEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** printk messages still held, kernel-log style: "[    1.234567] text". */
  messages(): string[] {
    return this.ofType('printk').map((e) => `${formatTimestamp(e.tsNs)} ${e.text}`);
  }

  /** messages() for a reader, saying first how much older log is gone if any is. */
  dmesg(): string[] {
    const lines = this.messages();
    if (!this.first) return lines;
    const c = this.counters();
    return [`(${c.dropped} earlier log entries dropped; ${c.warnings} warnings in the whole run)`, ...lines];
  }
}

function cstring(b: Uint8Array, off: number, max: number): string {
  let end = off;
  while (end < off + max && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('latin1');
}

export function formatTimestamp(ns: number): string {
  const s = Math.floor(ns / 1e9);
  const us = Math.floor((ns % 1e9) / 1e3);
  return `[${String(s).padStart(5)}.${String(us).padStart(6, '0')}]`;
}
