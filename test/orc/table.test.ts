// SPDX-License-Identifier: GPL-2.0-or-later
// ORC tables: the kernel build's sort order, the block lookup against plain searches, and a
// table built from a relocatable object placed at addresses of our choosing.
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/elf/index.ts';
import { ET_EXEC } from '../../src/elf/constants.ts';
import { ORC_TYPE_UNDEFINED, ORC_REG_UNDEFINED } from '../../src/orc/format.ts';
import { OrcTable, readImageEntries, readObjectEntries } from '../../src/orc/table.ts';
import { ensureOrc64Fixture, ROOT } from './fixtures.ts';

const image = ElfFile.read(`${ROOT}fixtures/kernel.elf`);

/** The entry a lookup must find: the last one at or below the address, by a linear scan. */
function linear(t: OrcTable, off: number): number {
  let best = -1;
  for (let i = 0; i < t.length; i++) if (t.ip[i] <= off) best = i;
  return best;
}

describe('ORC tables', () => {
  it('sorts the linked table by address, terminators first among equal addresses', () => {
    const raw = readImageEntries(image);
    const t = OrcTable.fromImage(image);
    expect(t.length).toBe(raw.length); // every entry of the image lies in [_stext, _etext]
    let dups = 0;
    for (let i = 1; i < t.length; i++) {
      expect(t.ip[i]).toBeGreaterThanOrEqual(t.ip[i - 1]);
      if (t.ip[i] === t.ip[i - 1]) {
        dups++;
        // the earlier of two is the terminator: the lookup, taking the last, gets the real one
        expect(t.kind[i - 1]).toBe(ORC_TYPE_UNDEFINED);
        expect(t.spReg[i - 1]).toBe(ORC_REG_UNDEFINED);
      }
    }
    expect(dups).toBeGreaterThan(0); // the linked table really has object-boundary duplicates
    const unsorted = raw.some((e, i) => i > 0 && e.address < raw[i - 1].address);
    expect(unsorted || dups > 0).toBe(true);
  });

  it('block lookup, binary search and a linear scan agree on every text address', () => {
    for (const t of [
      OrcTable.fromImage(image),
      OrcTable.fromImage(ElfFile.read(ensureOrc64Fixture()?.image ?? `${ROOT}fixtures/kernel.elf`)),
    ]) {
      for (let off = -300; off < t.size + 300; off++) {
        const want = off >= 0 && off < t.size ? linear(t, off) : -1;
        expect(t.find(off)).toBe(want);
        expect(t.findBinary(off)).toBe(want);
      }
    }
  });

  it("a relocatable object placed where the linker put it gives the image's entries", () => {
    const obj = ElfFile.read(`${ROOT}firmware/build/kernel/sched.o`);
    // where ld put sched.o's .text: any of its functions, image address minus object offset
    const sym = obj.symbols.find((s) => s.name === '__schedule')!;
    const textAt = image.findSymbol('__schedule').value - sym.value;
    const t = OrcTable.fromObject(obj, (s) => (s.name === '.text' ? textAt : undefined), { name: 'sched' });
    expect(t.base).toBe(textAt);
    expect(readObjectEntries(obj).length).toBe(t.length);
    const img = OrcTable.fromImage(image);
    const delta = Number(textAt - img.base);
    for (let off = 0; off < t.size; off++) {
      const a = t.find(off);
      const b = img.find(off + delta);
      expect(a).toBeGreaterThanOrEqual(0);
      const ea = t.entry(a);
      const eb = img.entry(b);
      expect([ea.kind, ea.spReg, ea.spOffset, ea.bpReg, ea.bpOffset]).toEqual([eb.kind, eb.spReg, eb.spOffset, eb.bpReg, eb.bpOffset]);
    }
    expect(image.type).toBe(ET_EXEC);
    // unplaced sections contribute nothing, and a table needs a placement
    expect(() => OrcTable.fromObject(obj, () => undefined)).toThrow(/no ORC entry points into a placed section/);
    expect(() => OrcTable.fromImage(obj)).toThrow(/not a linked image/);
  });
});
