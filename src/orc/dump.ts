// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `objtool --dump=orc FILE`, reproduced: the entries of an object or a linked image in file
 * order, one line each, in the text the objtool of the file's ORC layout prints (6.1 for the
 * old layout, 6.4+ for files with .orc_header). Objects name each entry by its relocation
 * (section or symbol + offset), images by address. Matching objtool byte for byte is what shows
 * the parser reads the tables as the kernel's own tool does.
 */
import { ElfFile, ET_REL } from '../elf/index.ts';
import { formatReg, typeName, type OrcEntry, type OrcLayout } from './format.ts';
import { detectLayout, readImageEntries, readObjectEntries } from './table.ts';

function line(prefix: string, e: OrcEntry, layout: OrcLayout): string {
  const sp = formatReg(e.spReg, e.spOffset);
  const bp = formatReg(e.bpReg, e.bpOffset);
  if (layout === '6.1') return `${prefix}: sp:${sp} bp:${bp} type:${typeName(e.type, layout)} end:${e.flag}`;
  return `${prefix}:type:${typeName(e.type, layout)} sp:${sp} bp:${bp} signal:${e.flag}`;
}

/** The dump of a parsed file; empty when it has no ORC. Each line ends with a newline. */
export function dumpOrc(elf: ElfFile, layout: OrcLayout = detectLayout(elf)): string {
  const lines: string[] = [];
  if (elf.type === ET_REL) {
    for (const e of readObjectEntries(elf, layout)) lines.push(line(`${e.name}+${BigInt.asUintN(64, e.addend).toString(16)}`, e, layout));
  } else {
    for (const e of readImageEntries(elf, layout)) lines.push(line(e.address.toString(16), e, layout));
  }
  return lines.map((l) => l + '\n').join('');
}

/** dumpOrc of a file on disk. */
export function dumpOrcFile(path: string): string {
  return dumpOrc(ElfFile.read(path));
}
