// SPDX-License-Identifier: GPL-2.0-or-later
// Names are bounded: a small file whose thousands of symbols (or sections) all point at one
// 1 MiB name must be refused with an ElfFormatError naming the symbol and the length, in a
// few megabytes, not decoded into gigabytes of strings. The reads run in a heap-capped worker,
// so a reader without the bound fails the test instead of killing the runner.
import { describe, expect, it } from 'vitest';
import { ElfFile, ElfFormatError } from '../../src/elf/index.ts';
import { runBounded } from '../bounded/bounded.ts';
import { buildSharedNameObject } from './synthetic.ts';

const WORKER = new URL('./names-worker.ts', import.meta.url);
const MIB = 1 << 20;

describe('names are bounded', () => {
  it('4000 symbols sharing one 1 MiB name: refused at the first, in bounded memory', async () => {
    const out = await runBounded<{ error?: string }>(
      WORKER,
      'readShared',
      { nameLength: MIB, symbols: 4000, sections: 0 },
      { maxOldGenerationSizeMb: 128, timeoutMs: 30_000 },
    );
    expect(out).toMatchObject({
      kind: 'ok',
      result: {
        error: `ElfFormatError: huge.o: symbol [1]: name at 0x1 in section [2] .strtab is ${MIB} bytes long, over the 511 that KSYM_NAME_LEN (512) allows`,
      },
    });
  });

  it('4000 sections sharing one 1 MiB name: refused when the headers are read', async () => {
    const out = await runBounded<{ error?: string }>(
      WORKER,
      'readShared',
      { nameLength: MIB, symbols: 1, sections: 4000 },
      { maxOldGenerationSizeMb: 128, timeoutMs: 30_000 },
    );
    expect(out).toMatchObject({
      kind: 'ok',
      result: {
        error: `ElfFormatError: huge.o: section [3]: name at 0x1 in section [2] is ${MIB} bytes long, over the 1023 that twice KSYM_NAME_LEN (1024) allows`,
      },
    });
  });

  it('accepts a name of KSYM_NAME_LEN - 1 bytes and refuses one byte more', () => {
    const ok = ElfFile.parse(buildSharedNameObject({ nameLength: 511, symbols: 3, sections: 0 }), 'ok.o');
    expect(ok.symbols.map((s) => s.name.length)).toEqual([0, 511, 511, 511]);
    const long = ElfFile.parse(buildSharedNameObject({ nameLength: 512, symbols: 3, sections: 0 }), 'long.o');
    expect(() => long.symbols).toThrow(ElfFormatError);
    expect(() => long.symbols).toThrow(/^long\.o: symbol \[1\]: name at 0x1 in section \[2\] \.strtab is 512 bytes long/);
  });
});
