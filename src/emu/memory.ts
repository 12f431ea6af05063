// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM: one host buffer that every vCPU's engine maps (uc_mem_map_ptr), so the host reads
 * and writes guest memory zero-copy while all vCPUs are stopped. Addresses are guest virtual
 * addresses (bigint: kernel addresses do not fit a double); an access outside RAM is an
 * UnmappedAddressError naming the address, never a silent zero.
 */

export class UnmappedAddressError extends Error {
  constructor(
    readonly address: bigint,
    readonly length: number,
    readonly ram: { base: bigint; size: number },
  ) {
    super(
      `guest address 0x${address.toString(16)}+${length} is not mapped ` +
        `(RAM is 0x${ram.base.toString(16)}-0x${(ram.base + BigInt(ram.size)).toString(16)})`,
    );
    this.name = 'UnmappedAddressError';
  }
}

export class GuestMemory {
  /** Host backing store; its address never moves (an ArrayBuffer's backing store is off-heap). */
  readonly buffer: Buffer;
  readonly view: DataView;
  readonly end: bigint;
  /**
   * Writes the host made through the setters below: with the vCPUs' instruction counts, a
   * position in a run that host code between two instructions also advances (a debugger's).
   */
  hostWrites = 0;
  /** Called after each such write (a debugger's watchpoints on host writes). */
  onHostWrite: ((address: bigint, length: number) => void) | null = null;

  constructor(
    readonly base: bigint,
    readonly size: number,
  ) {
    if (size <= 0 || size % 4096 !== 0) throw new RangeError(`guest RAM size ${size} must be a positive multiple of 4096`);
    this.buffer = Buffer.from(new ArrayBuffer(size));
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, size);
    this.end = base + BigInt(size);
  }

  contains(address: bigint, length = 1): boolean {
    return address >= this.base && address + BigInt(length) <= this.end;
  }

  /** Buffer offset of [address, address + length), or an UnmappedAddressError. */
  offset(address: bigint, length = 1): number {
    if (!this.contains(address, length)) throw new UnmappedAddressError(address, length, this);
    return Number(address - this.base);
  }

  u8(address: bigint): number {
    return this.view.getUint8(this.offset(address, 1));
  }
  u16(address: bigint): number {
    return this.view.getUint16(this.offset(address, 2), true);
  }
  u32(address: bigint): number {
    return this.view.getUint32(this.offset(address, 4), true);
  }
  s32(address: bigint): number {
    return this.view.getInt32(this.offset(address, 4), true);
  }
  u64(address: bigint): bigint {
    return this.view.getBigUint64(this.offset(address, 8), true);
  }
  s64(address: bigint): bigint {
    return this.view.getBigInt64(this.offset(address, 8), true);
  }

  setU8(address: bigint, v: number): void {
    this.view.setUint8(this.offset(address, 1), v);
    this.wrote(address, 1);
  }
  setU32(address: bigint, v: number): void {
    this.view.setUint32(this.offset(address, 4), v >>> 0, true);
    this.wrote(address, 4);
  }
  setU64(address: bigint, v: bigint): void {
    this.view.setBigUint64(this.offset(address, 8), BigInt.asUintN(64, v), true);
    this.wrote(address, 8);
  }

  private wrote(address: bigint, length: number): void {
    this.hostWrites++;
    this.onHostWrite?.(address, length);
  }

  /** A view (not a copy) of guest memory. */
  bytes(address: bigint, length: number): Uint8Array {
    const off = this.offset(address, length);
    return this.buffer.subarray(off, off + length);
  }

  write(address: bigint, data: Uint8Array): void {
    this.buffer.set(data, this.offset(address, data.length));
    this.wrote(address, data.length);
  }

  /** A NUL-terminated string of at most max bytes. */
  cstring(address: bigint, max = 256): string {
    return this.cstringAt(this.offset(address, 1), max);
  }

  /** cstring() at a buffer offset (for hot paths that already hold one). */
  cstringAt(off: number, max = 256): string {
    const lim = Math.min(off + max, this.size);
    let end = off;
    while (end < lim && this.buffer[end] !== 0) end++;
    return this.buffer.toString('latin1', off, end);
  }
}
