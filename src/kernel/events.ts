// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The firmware's event ring (printk messages and scheduler/fork/signal events), drained after
 * every round into an ordered log. The log's hash is the determinism check: the same image,
 * options and seed must give the same hash.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Target } from './task.ts';

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

export class EventLog {
  /**
   * Raw records as drained, one copy per contiguous run of the ring, decoded on demand: a drain
   * is a seq check per record and one memcpy per run.
   */
  private runs: Uint8Array[] = [];
  private rawCount = 0;
  private decodedRun = 0;
  /** Host printk lines, each placed after the first `after` guest records. */
  private readonly hostLines: Array<{ after: number; ev: LabEvent }> = [];
  private merged: LabEvent[] = [];
  private mergedGuest = 0;
  private mergedHost = 0;
  private decoded: LabEvent[] = [];
  /** Records overwritten in the ring before the host read them. */
  private lostRecords = 0;
  private lastSeq = 0;
  private hash: Hash = createHash('sha256');
  private readonly typeNames = new Map<number, string>();
  private readonly ringAddress: bigint;
  private readonly ringOffset: number;
  private readonly textMax: number;
  private readonly printkType: number;
  private readonly stride: number;
  private readonly slots: number;
  private readonly off: Record<string, number>;

  constructor(
    private readonly t: Target,
    readonly keep = 2_000_000,
  ) {
    const L = t.layout;
    for (const [name, v] of L.constants('EV_')) this.typeNames.set(v, name.slice(3).toLowerCase());
    this.ringAddress = t.sym('event_ring');
    this.ringOffset = t.mem.offset(this.ringAddress, L.sizeof('lab_event_ring'));
    this.textMax = L.constant('LAB_EVENT_TEXT');
    this.printkType = L.constant('EV_PRINTK');
    this.stride = L.sizeof('lab_event');
    this.slots = L.constant('LAB_EVENT_RING');
    this.off = Object.fromEntries(
      ['seq', 'ts_ns', 'type', 'cpu', 'pid', 'a', 'b', 'c', 'text'].map((m) => [m, L.offset('lab_event', m)]),
    );
    this.off.head = L.offset('lab_event_ring', 'head');
    this.off.ev = L.offset('lab_event_ring', 'ev');
  }

  get lost(): number {
    this.drain();
    return this.lostRecords;
  }

  private head(): number {
    const view = this.t.mem.view;
    const at = this.ringOffset + this.off.head;
    return view.getUint32(at, true) + view.getUint32(at + 4, true) * 4294967296;
  }

  /** Called after every round: drains only once the ring is a quarter full, so rounds stay cheap. */
  poll(): void {
    if (this.head() - this.lastSeq > this.slots / 4) this.drain();
  }

  /** Reads every record published since the last drain. */
  drain(): void {
    const view = this.t.mem.view;
    const ring = this.ringOffset;
    const head = this.head();
    if (head === this.lastSeq) return;
    let seq = this.lastSeq + 1;
    if (head - this.lastSeq > this.slots) {
      this.lostRecords += head - this.slots - this.lastSeq;
      seq = head - this.slots + 1;
    }
    const o = this.off;
    const buf = this.t.mem.buffer;
    const first = ring + o.ev;
    let runStart = -1;
    let runEnd = -1;
    for (; seq <= head; seq++) {
      const rec = first + ((seq - 1) % this.slots) * this.stride;
      if (view.getUint32(rec + o.seq, true) + view.getUint32(rec + o.seq + 4, true) * 4294967296 !== seq) {
        this.lostRecords++;
        continue;
      }
      // the records' bytes are the log's identity: hash and keep them a contiguous run at a time
      if (rec !== runEnd) {
        if (runStart >= 0) this.takeRun(buf, runStart, runEnd);
        runStart = rec;
      }
      runEnd = rec + this.stride;
    }
    if (runStart >= 0) this.takeRun(buf, runStart, runEnd);
    this.lastSeq = head;
  }

  private takeRun(buf: Buffer, start: number, end: number): void {
    const run = Uint8Array.prototype.slice.call(buf, start, end);
    this.hash.update(run);
    if (this.rawCount >= this.keep) return;
    this.runs.push(run);
    this.rawCount += (end - start) / this.stride;
  }

  /**
   * A kernel log line from the host's part of the kernel (the livepatch core): it joins the log
   * after everything the guest logged so far, with the current emulated time, and counts in the
   * digest like any other record.
   */
  hostPrintk(level: number, text: string, tsNs: number, cpu = 0): void {
    this.drain();
    const line = `host ${level} ${tsNs} ${text}\n`;
    this.hash.update(line);
    this.hostLines.push({ after: this.rawCount, ev: { seq: 0, tsNs, type: 'printk', cpu, pid: -1, a: level, b: 0, c: 1, text } });
  }

  /** Every event kept so far, in order. */
  get events(): readonly LabEvent[] {
    this.drain();
    for (; this.decodedRun < this.runs.length; this.decodedRun++) {
      const run = this.runs[this.decodedRun];
      const view = new DataView(run.buffer, run.byteOffset, run.length);
      for (let rec = 0; rec < run.length; rec += this.stride) this.decoded.push(this.decode(view, rec, run));
    }
    // guest records and host lines, in the order they were logged
    for (;;) {
      const h = this.hostLines[this.mergedHost];
      if (h && h.after <= this.mergedGuest) {
        this.merged.push(h.ev);
        this.mergedHost++;
      } else if (this.mergedGuest < this.decoded.length) {
        this.merged.push(this.decoded[this.mergedGuest++]);
      } else break;
    }
    return this.merged;
  }

  private decode(view: DataView, rec: number, bytes: Uint8Array): LabEvent {
    const o = this.off;
    const type = view.getUint16(rec + o.type, true);
    return {
      seq: view.getUint32(rec + o.seq, true) + view.getUint32(rec + o.seq + 4, true) * 4294967296,
      tsNs: view.getUint32(rec + o.ts_ns, true) + view.getUint32(rec + o.ts_ns + 4, true) * 4294967296,
      type: this.typeNames.get(type) ?? `type${type}`,
      cpu: view.getUint16(rec + o.cpu, true),
      pid: view.getInt32(rec + o.pid, true),
      a: view.getUint32(rec + o.a, true) + view.getUint32(rec + o.a + 4, true) * 4294967296,
      b: view.getUint32(rec + o.b, true) + view.getUint32(rec + o.b + 4, true) * 4294967296,
      c: view.getUint32(rec + o.c, true) + view.getUint32(rec + o.c + 4, true) * 4294967296,
      text: type === this.printkType ? cstring(bytes, rec + o.text, this.textMax) : '',
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

  /** printk messages, kernel-log style: "[    1.234567] text". */
  messages(): string[] {
    return this.ofType('printk').map((e) => `${formatTimestamp(e.tsNs)} ${e.text}`);
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
