// SPDX-License-Identifier: GPL-2.0-or-later
// Run in a heap-capped worker by names.test.ts: reads a crafted object the way `orc dump` does
// (sections, symbols, the dump) and reports how it ended.
import { ElfFile } from '../../src/elf/index.ts';
import { dumpOrc } from '../../src/orc/dump.ts';
import { buildSharedNameObject } from './synthetic.ts';

export function readShared(opts: { nameLength: number; symbols: number; sections: number }): { error?: string; symbols?: number } {
  const bytes = buildSharedNameObject(opts);
  try {
    const elf = ElfFile.parse(bytes, 'huge.o');
    const n = elf.symbols.length;
    dumpOrc(elf);
    return { symbols: n };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}
