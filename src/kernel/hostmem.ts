// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest memory the host manages: the top of RAM, kept out of the firmware's own heap by
 * boot_params.ram_end. Loaded modules and the livepatch core's guest-side structures (klp_ops,
 * dynamic nop funcs, ftrace ops) live here, within +/-2 GiB of the image so 32-bit relocations
 * reach. First-fit over a sorted free list, so the same sequence of calls gives the same
 * addresses. Memory is zeroed when handed out and when given back: free host memory always
 * reads as zero, so an operation that allocates and frees again leaves no trace in the guest.
 */
import type { GuestMemory } from '../emu/index.ts';

export class HostMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostMemoryError';
  }
}

interface Extent {
  start: bigint;
  size: bigint;
}

export class HostMemory {
  private free: Extent[];
  private readonly used = new Map<bigint, bigint>();

  constructor(
    private readonly mem: GuestMemory,
    readonly start: bigint,
    readonly end: bigint,
  ) {
    this.free = [{ start, size: end - start }];
  }

  /** Zeroed guest memory of `size` bytes aligned to `align` (a power of two). */
  alloc(size: number, align = 16, what = 'object'): bigint {
    if (size <= 0) size = 1;
    const a = BigInt(align);
    const n = BigInt(size);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      const at = (f.start + a - 1n) & ~(a - 1n);
      if (at + n > f.start + f.size) continue;
      const pieces: Extent[] = [];
      if (at > f.start) pieces.push({ start: f.start, size: at - f.start });
      if (at + n < f.start + f.size) pieces.push({ start: at + n, size: f.start + f.size - at - n });
      this.free.splice(i, 1, ...pieces);
      this.used.set(at, n);
      this.mem.bytes(at, size).fill(0);
      return at;
    }
    throw new HostMemoryError(
      `host memory exhausted: no ${size} bytes (align ${align}) for ${what} in 0x${this.start.toString(16)}-0x${this.end.toString(16)}`,
    );
  }

  /** Returns a block from alloc(), zeroed; adjacent free blocks merge. */
  release(address: bigint): void {
    const size = this.used.get(address);
    if (size === undefined) throw new HostMemoryError(`release of 0x${address.toString(16)}: not a block of host memory`);
    this.used.delete(address);
    this.mem.bytes(address, Number(size)).fill(0);
    this.free.push({ start: address, size });
    this.free.sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
    const merged: Extent[] = [];
    for (const f of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.start + last.size === f.start) last.size += f.size;
      else merged.push({ ...f });
    }
    this.free = merged;
  }

  get bytesFree(): bigint {
    return this.free.reduce((n, f) => n + f.size, 0n);
  }
}
