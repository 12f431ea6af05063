// SPDX-License-Identifier: GPL-2.0-or-later
// Guest code for the engine tests, assembled with binutils (GNU as, Intel syntax, placed at
// offset 0) so that instruction boundaries are known.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Assembles Intel-syntax x86-64; returns the bytes and each instruction's offset. */
export function asm(src: string): { code: Buffer; starts: number[] } {
  const d = mkdtempSync(join(tmpdir(), 'klp-asm-'));
  try {
    writeFileSync(join(d, 'a.s'), `.intel_syntax noprefix\n.text\n${src}\n`);
    execFileSync('as', ['--64', '-o', join(d, 'a.o'), join(d, 'a.s')]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(d, 'a.o'), join(d, 'a.bin')]);
    const dis = execFileSync('objdump', ['-d', join(d, 'a.o')], { encoding: 'utf8' });
    const starts = [...dis.matchAll(/^\s+([0-9a-f]+):\t/gm)].map((m) => parseInt(m[1], 16));
    return { code: readFileSync(join(d, 'a.bin')), starts };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
