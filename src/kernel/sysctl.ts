// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a write to an integer sysctl (proc_dointvec, kernel/sysctl.c) accepts, for the lab's
 * /proc/sys files: leading blanks, one decimal, octal (0...) or hex (0x...) number with an
 * optional '-', ended by a blank, a tab, a newline or the end of the write, within an int.
 * Anything else is -EINVAL and stores nothing. What follows the first number is not taken:
 * for a one-int sysctl the kernel stops there (its write returns short, and user space's retry
 * at a non-zero offset is ignored), so `echo "1 2"` stores 1.
 */

/** A sysctl write the kernel refuses, with the errno write(2) gives. */
export class SysctlError extends Error {
  constructor(
    readonly errno: 'EINVAL',
    readonly key: string,
    message: string,
  ) {
    super(`sysctl ${key}: ${message} (-${errno})`);
    this.name = 'SysctlError';
  }
}

const BLANK = /^[ \t\n]*/;
/** What strtoul() with base 0 takes: 0x and a hex digit, 0 and octal digits, or decimal digits. */
const NUMBER = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/;
/** The kernel parses a number in a 22-byte buffer: 21 characters or more cannot be one. */
const TMPBUFLEN = 22;
const INT_MAX = 2n ** 31n - 1n;

/** The int a write of `data` to the integer sysctl `key` stores, or a SysctlError (-EINVAL). */
export function procDointvec(key: string, data: string): number {
  const invalid = (why: string) => new SysctlError('EINVAL', key, `${JSON.stringify(data)}: ${why}`);
  let p = data.replace(BLANK, '');
  if (!p) throw invalid('no number');
  const neg = p.startsWith('-') && p.length > 1;
  if (neg) p = p.slice(1);
  const m = NUMBER.exec(p);
  if (!m) throw invalid('not a number');
  if ((neg ? 1 : 0) + m[0].length >= TMPBUFLEN - 1) throw invalid('too long');
  const next = p[m[0].length];
  if (next !== undefined && !' \t\n'.includes(next)) throw invalid(`'${next}' after the number`);
  const digits = m[0];
  const v = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  if (v > (neg ? INT_MAX + 1n : INT_MAX)) throw invalid('out of range for an int');
  return Number(neg ? -v : v);
}
