// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ftrace's errors, typed so callers (the livepatch core turning them into the kernel's return
 * codes) can tell them apart: each carries the errno the kernel's ftrace gives in that case,
 * and a failed code check says which site, what it found and what it expected.
 */
import { ERRNO } from '../elf/index.ts';

export type FtraceErrno = 'EINVAL' | 'EBUSY' | 'ENOENT' | 'EFAULT';

export class FtraceError extends Error {
  constructor(
    readonly errno: FtraceErrno,
    message: string,
  ) {
    super(`ftrace: ${message} (-${errno})`);
    this.name = 'FtraceError';
  }

  /** The negative errno the kernel's function returns in this case (-16 for EBUSY). */
  get code(): number {
    return -ERRNO[this.errno];
  }
}

/**
 * A site did not hold the instruction ftrace expected before changing it (the kernel's
 * ftrace_bug() "failed to modify"); nothing was written.
 */
export class FtracePokeError extends FtraceError {
  constructor(
    /** The site as "symbol+0xoff/0xsize". */
    readonly site: string,
    readonly address: bigint,
    /** The bytes found there, and their disassembly. */
    readonly found: Uint8Array,
    readonly foundInsn: string,
    /** The instruction expected there, e.g. "nop dword ptr [rax + rax]" or "call 0x...". */
    readonly expected: string,
  ) {
    super('EINVAL', `failed to modify ${site} (0x${address.toString(16)}): found ${hexBytes(found)} (${foundInsn}), expected ${expected}`);
    this.name = 'FtracePokeError';
  }
}

export function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
