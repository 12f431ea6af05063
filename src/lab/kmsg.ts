// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /dev/kmsg over the lab's log. Each printk line of the log (the guest's records and the host
 * core's lines, in the one order the log keeps) is a record with a sequence number counted from
 * 0 at boot, without gaps, as printk's ring numbers them; a reader asks for the record at or
 * after a sequence number and gets it in the format readers parse ("prio,seq,usec,-;text"). A
 * write is one record, of facility LOG_USER unless it starts with a "<N>" prefix, as
 * devkmsg_write() makes it.
 *
 * The records are taken from the log as it grows (scan()); the oldest ones are dropped past
 * `capacity`, and a reader that wanted one of them is told so (EPIPE) and moved on to the
 * oldest record kept, as the kernel's /dev/kmsg does.
 */
import type { Kernel } from '../kernel/index.ts';

export interface KmsgRecord {
  readonly seq: number;
  /** syslog priority: facility << 3 | level (facility 0 for the kernel's own lines). */
  readonly prio: number;
  readonly usec: number;
  readonly text: string;
}

export type KmsgRead = { record: KmsgRecord } | { errno: 'EAGAIN' } | { errno: 'EPIPE'; next: number };

/** LOG_USER, the facility of lines written to /dev/kmsg without one. */
const LOG_USER = 1;
/** default_message_loglevel: the level of lines written to /dev/kmsg without one. */
const DEFAULT_LEVEL = 4;
/** printk's LOG_LINE_MAX: the longest record a write makes (the rest is cut off). */
const LINE_MAX = 1024 - 32;

export class Kmsg {
  private readonly records: KmsgRecord[] = [];
  /** Sequence number of records[0]. */
  private first = 0;
  /** Log position of the next entry to look at. */
  private at = 0;

  constructor(
    private readonly k: Kernel,
    readonly capacity = 1 << 16,
  ) {
    this.scan();
  }

  /** Sequence number the next record will get. */
  get next(): number {
    return this.first + this.records.length;
  }

  /** Takes the printk lines logged since the last scan. */
  scan(): void {
    const log = this.k.log;
    let entries;
    try {
      entries = log.since(this.at);
    } catch {
      // the log itself dropped lines before they were read: go on from what it still holds
      this.at = log.counters().dropped;
      entries = log.since(this.at);
    }
    this.at += entries.length;
    for (const e of entries) {
      if (e.type !== 'printk') continue;
      this.records.push({ seq: this.next, prio: e.a, usec: Math.floor(e.tsNs / 1e3), text: e.text });
    }
    const excess = this.records.length - this.capacity;
    if (excess > 0) {
      this.records.splice(0, excess);
      this.first += excess;
    }
  }

  /** The record with sequence number `seq` (the next one to be logged: EAGAIN; dropped: EPIPE). */
  read(seq: number): KmsgRead {
    this.scan();
    if (seq < this.first) return { errno: 'EPIPE', next: this.first };
    const r = this.records[seq - this.first];
    return r ? { record: r } : { errno: 'EAGAIN' };
  }

  /** What a read(2) of /dev/kmsg returns for a record. */
  static format(r: KmsgRecord): string {
    return `${r.prio},${r.seq},${r.usec},-;${escapeText(r.text)}\n`;
  }

  /** A write(2) to /dev/kmsg: one record, "<N>" giving its level (and facility, if not 0). */
  write(data: string): void {
    let text = data;
    let level = DEFAULT_LEVEL;
    let facility = LOG_USER;
    const m = /^<(\d+)>/.exec(text);
    if (m) {
      const u = Number(m[1]) >>> 0;
      level = u & 7;
      if (u >> 3) facility = u >> 3;
      text = text.slice(m[0].length);
    }
    // printk drops the trailing newline; what is left is one record, cut at the line limit
    text = text.replace(/\n$/, '').slice(0, LINE_MAX);
    this.k.log.hostPrintk((facility << 3) | level, text, this.k.machine.clockNs);
    this.scan();
  }
}

/** kmsg's escaping: control characters, bytes past 0x7e and the backslash as \xNN. */
function escapeText(text: string): string {
  let out = '';
  for (const c of text) {
    const n = c.charCodeAt(0);
    out += n < 0x20 || n >= 0x7f || c === '\\' ? `\\x${n.toString(16).padStart(2, '0')}` : c;
  }
  return out;
}
