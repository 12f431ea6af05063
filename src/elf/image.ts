// SPDX-License-Identifier: GPL-2.0-or-later
// Little-endian access to the raw bytes of one ELF file. Every range is checked
// here, before it is read, so that a damaged file becomes an ElfFormatError
// naming the file rather than a RangeError from DataView.

import { ElfFormatError } from './errors.ts';
import { hex } from './format.ts';

/** 2^53 / 2^32: a u64 whose high word reaches this is not a safe integer. */
const SAFE_HIGH_WORD_LIMIT = 0x200000;

export class ElfImage {
  readonly length: number;
  private readonly view: DataView;
  /** The same bytes as a Buffer, for Node's native UTF-8 decoding of names without a copy. */
  private readonly buffer: Buffer;

  constructor(
    readonly file: string,
    readonly bytes: Uint8Array,
  ) {
    this.length = bytes.byteLength;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(problem: string): never {
    throw new ElfFormatError(this.file, problem);
  }

  /**
   * Whether [offset, offset + size) lies inside the file. Doubles suffice:
   * both operands are safe integers, and a sum too large to be exact is
   * still far past the end of any file.
   */
  inRange(offset: number, size: number): boolean {
    return offset + size <= this.length;
  }

  truncated(what: string, offset: number, size: number): never {
    this.fail(`truncated: ${what} at ${hex(offset)}+${hex(size)} past end of file (${hex(this.length)} bytes)`);
  }

  checkRange(what: string, offset: number, size: number): void {
    if (!this.inRange(offset, size)) this.truncated(what, offset, size);
  }

  u8(offset: number): number {
    return this.view.getUint8(offset);
  }

  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }

  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  u64(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }

  i64(offset: number): bigint {
    return this.view.getBigInt64(offset, true);
  }

  /**
   * A 64-bit file quantity (offset, size, count, alignment) as a number,
   * read without a BigInt because there are several per section and symbol.
   * Anything beyond 2^53 cannot describe a real file, so it is a format error.
   */
  u64Number(offset: number, what: string): number {
    const high = this.u32(offset + 4);
    // `what` is a plain field name and the file offset locates it: callers run
    // this per section and symbol and should not build descriptions up front.
    if (high >= SAFE_HIGH_WORD_LIMIT) this.fail(`${what} ${hex(this.u64(offset))} at file offset ${hex(offset)} is too large`);
    return high * 2 ** 32 + this.u32(offset);
  }

  /** UTF-8 text of bytes [start, end); the caller has checked the range. */
  utf8(start: number, end: number): string {
    return this.buffer.toString('utf8', start, end);
  }
}
