// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The errno vocabulary is one table: every name has Linux's number and glibc's text, and no
 * other source file keeps numbers of its own (they drifted apart when four files each had a
 * few: EIO had no text, EADDRINUSE no name).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EADDRINUSE, EBUSY, EINVAL, ERRNO, errnoName, errnoValue, isErrno, strerror } from '../../src/elf/errno.ts';

const SRC = join(import.meta.dirname, '../../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('errno', () => {
  it('names, numbers and strerror() texts agree', () => {
    expect([EINVAL, EBUSY, EADDRINUSE]).toEqual([22, 16, 98]);
    expect(errnoName(-22)).toBe('EINVAL');
    expect(errnoName(11)).toBe('EAGAIN'); // not its alias EWOULDBLOCK
    expect(errnoName(-98)).toBe('EADDRINUSE');
    expect(errnoName(-200)).toBe('E200');
    expect(strerror(-EBUSY)).toBe('Device or resource busy');
    expect(strerror(-19)).toBe('No such device');
    expect(strerror(-5)).toBe('Input/output error');
    expect(strerror(-3)).toBe('No such process');
    expect(strerror(-200)).toBe('Unknown error 200');
    expect(errnoValue('ENOENT')).toBe(2);
    expect(errnoValue('E77')).toBe(77);
    expect(isErrno('EIO')).toBe(true);
    expect(isErrno('toString')).toBe(false);
    for (const [name, n] of Object.entries(ERRNO)) {
      expect(strerror(-n), name).not.toMatch(/^Unknown error/);
      expect(ERRNO[errnoName(n) as keyof typeof ERRNO], name).toBe(n);
    }
  });

  it('is defined in src/elf/errno.ts only', () => {
    const own = /\b(?:const|let)\s+E[A-Z]{2,}\s*=\s*\d|\bE[A-Z]{2,}:\s*\[?\d/;
    const elsewhere = tsFiles(SRC)
      .filter((f) => !f.endsWith('/elf/errno.ts'))
      .filter((f) => own.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(elsewhere).toEqual([]);
  });
});
