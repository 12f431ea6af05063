// SPDX-License-Identifier: GPL-2.0-or-later
// `orc dump` against the real objtool: every fixture object that carries ORC and both linked
// images (6.1 layout, and the 6.4+ one objtool 6.12 writes) must print byte for byte alike.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { orcDump } from '../../src/cli/orc.ts';
import { ElfFile } from '../../src/elf/index.ts';
import { detectLayout, hasOrc } from '../../src/orc/table.ts';
import { ensureOrc64Fixture, OBJTOOL_61, ROOT } from './fixtures.ts';

function objects(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? objects(p) : n.endsWith('.o') ? [p] : [];
  });
}

const objtool = (tool: string, file: string) => execFileSync(tool, ['--dump=orc', file], { encoding: 'latin1', maxBuffer: 1 << 26 });

describe('orc dump = objtool --dump=orc', () => {
  let orc64: { objtool: string; image: string; objects: string } | null = null;
  beforeAll(() => {
    orc64 = ensureOrc64Fixture();
  });

  it('every firmware object with ORC and the linked image (objtool 6.1)', () => {
    const files = objects(join(ROOT, 'firmware/build')).filter((f) => hasOrc(ElfFile.read(f)));
    expect(files.length).toBeGreaterThanOrEqual(20);
    files.push(join(ROOT, 'fixtures/kernel.elf'));
    for (const f of files) {
      expect(detectLayout(ElfFile.read(f)), f).toBe('6.1');
      const want = objtool(OBJTOOL_61, f);
      expect(want.length, f).toBeGreaterThan(0);
      expect(orcDump(f), f).toBe(want);
    }
  });

  it('every object and the image of the 6.4+ fixture (objtool 6.12)', () => {
    if (!orc64) throw new Error('the 6.4+ fixture could not be built: see test/orc/fixtures/Makefile');
    const files = objects(orc64.objects).filter((f) => hasOrc(ElfFile.read(f)));
    expect(files.length).toBeGreaterThanOrEqual(20);
    files.push(orc64.image);
    for (const f of files) {
      expect(detectLayout(ElfFile.read(f)), f).toBe('6.4');
      expect(orcDump(f), f).toBe(objtool(orc64.objtool, f));
    }
  });

  it('files without ORC dump to nothing, as objtool prints nothing', () => {
    const user = join(ROOT, 'firmware/build/user/programs.o');
    expect(orcDump(user)).toBe('');
    expect(objtool(OBJTOOL_61, user)).toBe('');
  });
});
