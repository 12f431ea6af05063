// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * GDB's remote serial protocol on the wire: `$data#cc` packets with a modulo-256 checksum,
 * `+`/`-` acknowledgements until QStartNoAckMode, `}` escapes (byte ^ 0x20) in binary data,
 * and the lone 0x03 byte that is Ctrl-C while the target runs.
 */
import type { GdbConnection } from './socket.ts';

const INTERRUPT = 0x03;
/** KLP_GDB_DEBUG=1: every packet both ways on stderr (what gdb's `set debug remote 1` shows). */
const TRACE = !!process.env.KLP_GDB_DEBUG;

export function checksum(data: Buffer): string {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** Escapes what may not appear raw in a packet ($, #, }, *). */
export function escapeBinary(data: Buffer): Buffer {
  const out: number[] = [];
  for (const b of data) {
    if (b === 0x23 || b === 0x24 || b === 0x7d || b === 0x2a) out.push(0x7d, b ^ 0x20);
    else out.push(b);
  }
  return Buffer.from(out);
}

export function unescapeBinary(data: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) out.push(data[i] === 0x7d ? data[++i] ^ 0x20 : data[i]);
  return Buffer.from(out);
}

export const hex = (b: Buffer | Uint8Array): string => Buffer.from(b).toString('hex');
export const hexText = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
export const fromHex = (s: string): Buffer => Buffer.from(s, 'hex');

/** What came from the debugger: a packet's payload (raw bytes, still escaped), or a Ctrl-C. */
export type Incoming = { kind: 'packet'; data: Buffer } | { kind: 'interrupt' } | { kind: 'eof' };

/** Packets over one connection, read and written synchronously. */
export class PacketChannel {
  private pending = Buffer.alloc(0);
  private ack = true;

  constructor(readonly conn: GdbConnection) {}

  noAck(): void {
    this.ack = false;
  }

  send(payload: string | Buffer): void {
    const data = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    if (TRACE) process.stderr.write(`gdb <- ${data.toString('latin1').slice(0, 200)}\n`);
    this.conn.write(Buffer.concat([Buffer.from('$'), data, Buffer.from(`#${checksum(data)}`)]));
    // the debugger's '+' is read (and skipped) with the next packet
  }

  /** Whether a Ctrl-C (or anything) waits, without blocking. */
  interrupted(): boolean {
    while (this.conn.readable()) {
      const more = this.conn.read();
      if (!more.length) return true; // gone: stop and let the loop see the end
      this.pending = Buffer.concat([this.pending, more]);
    }
    return this.pending.includes(INTERRUPT);
  }

  /** The next packet or Ctrl-C; blocks. */
  next(): Incoming {
    for (;;) {
      const p = this.pending;
      let i = 0;
      while (i < p.length && (p[i] === 0x2b || p[i] === 0x2d)) i++; // acks
      if (i < p.length && p[i] === INTERRUPT) {
        this.pending = p.subarray(i + 1);
        return { kind: 'interrupt' };
      }
      if (i < p.length && p[i] === 0x24) {
        const end = p.indexOf(0x23, i + 1);
        if (end >= 0 && end + 2 < p.length) {
          const data = Buffer.from(p.subarray(i + 1, end));
          const sum = p.subarray(end + 1, end + 3).toString('latin1');
          this.pending = p.subarray(end + 3);
          if (this.ack) this.conn.write(sum.toLowerCase() === checksum(data) ? '+' : '-');
          if (TRACE) process.stderr.write(`gdb -> ${data.toString('latin1').slice(0, 200)}\n`);
          if (!this.ack || sum.toLowerCase() === checksum(data)) return { kind: 'packet', data };
          continue;
        }
      } else if (i < p.length) {
        // garbage between packets: drop up to the next packet start
        const start = p.indexOf(0x24, i);
        this.pending = start < 0 ? Buffer.alloc(0) : p.subarray(start);
        continue;
      } else this.pending = Buffer.alloc(0);
      const more = this.conn.read();
      if (!more.length) return { kind: 'eof' };
      this.pending = Buffer.concat([this.pending, more]);
    }
  }
}
