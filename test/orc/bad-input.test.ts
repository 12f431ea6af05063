// SPDX-License-Identifier: GPL-2.0-or-later
// Damaged ORC sections: a .orc_unwind or .orc_unwind_ip without file bytes (NOBITS, NULL), and a
// text range that cannot be. Every reader of the tables (layout detection, the entries of an
// image or an object, the lookup table, `orc dump`) must refuse with an OrcTableError that names
// the file and the section, never a RangeError from a DataView.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../../src/elf/index.ts';
import { SHT_NOBITS, SHT_NULL } from '../../src/elf/constants.ts';
import { dumpOrc } from '../../src/orc/dump.ts';
import { detectLayout, OrcTable, OrcTableError, readImageEntries, readObjectEntries } from '../../src/orc/table.ts';
import { ROOT } from './fixtures.ts';

const KERNEL = `${ROOT}fixtures/kernel.elf`;
const PATCH = `${ROOT}fixtures/test_klp_livepatch.ko`;

/** A copy of `path` with one section header's 32-bit field (at `field` in the Elf64_Shdr) changed. */
function withShdr(path: string, section: string, field: number, value: number): ElfFile {
  const bytes = new Uint8Array(readFileSync(path));
  const s = ElfFile.parse(bytes, path).section(section)!;
  const view = new DataView(bytes.buffer);
  view.setUint32(Number(view.getBigUint64(40, true)) + s.index * 64 + field, value, true);
  return ElfFile.parse(bytes, path);
}

/** A copy of `path` with a symbol's value changed. */
function withSymbolValue(path: string, symbol: string, value: bigint): ElfFile {
  const bytes = new Uint8Array(readFileSync(path));
  const elf = ElfFile.parse(bytes, path);
  const sym = elf.symbols.find((s) => s.name === symbol)!;
  new DataView(bytes.buffer).setBigUint64(elf.section('.symtab')!.offset + sym.index * 24 + 8, value, true);
  return ElfFile.parse(bytes, path);
}

function orcError(fn: () => unknown): OrcTableError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(OrcTableError);
    return e as OrcTableError;
  }
  throw new Error('expected an OrcTableError');
}

describe('damaged ORC sections', () => {
  for (const [type, typeName] of [
    [SHT_NOBITS, 'SHT_NOBITS'],
    [SHT_NULL, 'SHT_NULL'],
  ] as const) {
    for (const name of ['.orc_unwind', '.orc_unwind_ip']) {
      it(`${name} of type ${typeName}, in an image and in an object`, () => {
        const image = withShdr(KERNEL, name, 4, type);
        const index = image.section(name)!.index;
        const readers: Array<() => unknown> = [() => readImageEntries(image, '6.1'), () => OrcTable.fromImage(image), () => dumpOrc(image)];
        if (name === '.orc_unwind') readers.push(() => detectLayout(image));
        for (const read of readers) {
          const e = orcError(read);
          expect(e.file).toBe(KERNEL);
          expect(e.section).toBe(`section [${index}] ${name}`);
          expect(e.message).toMatch(new RegExp(`^${KERNEL}: section \\[${index}\\] \\${name}: sh_type ${typeName} has no file bytes`));
        }
        const object = withShdr(PATCH, name, 4, type);
        for (const read of [() => readObjectEntries(object, '6.1'), () => dumpOrc(object)])
          expect(orcError(read).message).toMatch(new RegExp(`^${PATCH}: section \\[\\d+\\] \\${name}: sh_type ${typeName}`));
      });
    }
  }

  it('a text range that ends before it starts, or spans more than 2 GiB', () => {
    const etext = ElfFile.read(KERNEL).symbolsNamed('_etext')[0].value;
    const stext = ElfFile.read(KERNEL).symbolsNamed('_stext')[0].value;
    const backwards = withSymbolValue(KERNEL, '_stext', etext + 0x10n);
    expect(orcError(() => OrcTable.fromImage(backwards)).message).toBe(
      `${KERNEL}: .orc_unwind_ip: text range 0x${(etext + 0x10n).toString(16)}-0x${etext.toString(16)} of its entries ends before it starts`,
    );
    const huge = withSymbolValue(KERNEL, '_stext', stext - 0x80000000n);
    expect(orcError(() => OrcTable.fromImage(huge)).message).toMatch(
      /\.orc_unwind_ip: text range 0x[0-9a-f]+-0x[0-9a-f]+ of its entries is larger than 2 GiB$/,
    );
  });
});

describe('a vast text range for few entries', () => {
  it('keeps the block index in proportion to the entries, and lookups exact', () => {
    // _stext moved 2 GiB - 64 KiB down: the table covers that much "text" for ~2,300 entries
    const stext = ElfFile.read(KERNEL).symbolsNamed('_stext')[0].value;
    const t = OrcTable.fromImage(withSymbolValue(KERNEL, '_stext', stext - 0x7fff0000n));
    const plain = OrcTable.fromImage(ElfFile.read(KERNEL));
    expect(t.size).toBe(plain.size + 0x7fff0000);
    expect(t.blocks.length).toBeLessThanOrEqual(4 * t.length + 1026);
    expect(plain.blockOrder).toBe(8); // a real table keeps the kernel's 256-byte blocks
    for (let off = 0; off < t.size; off += 0x10001) expect(t.find(off), `offset ${off}`).toBe(t.findBinary(off));
    for (let off = t.size - plain.size; off < t.size; off += 3) expect(t.find(off)).toBe(t.findBinary(off));
  });
});
