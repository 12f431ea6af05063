// SPDX-License-Identifier: GPL-2.0-or-later
// Runs binutils' readelf and parses its wide (-W) output, as the reference
// the ELF reader is checked against.

import { execFileSync } from 'node:child_process';

export interface ReadelfSymbol {
  num: number;
  value: bigint;
  size: number;
  type: string;
  bind: string;
  vis: string;
  ndx: string;
  name: string;
}

export interface ReadelfRelocation {
  offset: bigint;
  info: bigint;
  type: string;
  symbolName: string;
  addend: bigint;
}

export interface ReadelfSection {
  index: number;
  name: string;
  type: string;
  addr: bigint;
  offset: number;
  size: number;
  entsize: number;
  link: number;
  info: number;
  align: number;
}

export interface ReadelfSegment {
  type: string;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  flags: string;
  align: number;
}

function readelf(args: string[], file: string): string[] {
  return execFileSync('readelf', ['-W', ...args, file], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
}

function must(match: RegExpExecArray | null, line: string): RegExpExecArray {
  if (!match) throw new Error(`unparsed readelf line: ${JSON.stringify(line)}`);
  return match;
}

/** `readelf -sW`: the .symtab rows. */
export function readelfSymbols(file: string): ReadelfSymbol[] {
  const rows: ReadelfSymbol[] = [];
  let inSymtab = false;
  for (const line of readelf(['-s'], file)) {
    if (line.startsWith('Symbol table ')) inSymtab = line.includes("'.symtab'");
    if (!inSymtab || !/^\s*\d+:/.test(line)) continue;
    const m = must(/^\s*(\d+): ([0-9a-f]{16})\s+(\S+) (\S+)\s+(\S+)\s+(\S+)\s+(\S+) ?(.*)$/.exec(line), line);
    rows.push({
      num: Number(m[1]),
      value: BigInt(`0x${m[2]}`),
      size: Number(m[3]),
      type: m[4],
      bind: m[5],
      vis: m[6],
      ndx: m[7],
      name: m[8],
    });
  }
  return rows;
}

/** `readelf -rW`: relocation entries keyed by relocation section name. */
export function readelfRelocations(file: string): Map<string, ReadelfRelocation[]> {
  const sections = new Map<string, ReadelfRelocation[]>();
  let current: ReadelfRelocation[] | undefined;
  const expected = new Map<string, number>();
  for (const line of readelf(['-r'], file)) {
    const header = /^Relocation section '([^']+)' at offset 0x[0-9a-f]+ contains (\d+) entr/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1], current);
      expected.set(header[1], Number(header[2]));
      continue;
    }
    if (!current || !/^[0-9a-f]{16} /.test(line)) continue;
    const m = must(/^([0-9a-f]{16})\s+([0-9a-f]{16}) (\S+)\s+[0-9a-f]{16} (\S+) ([+-]) ([0-9a-f]+)$/.exec(line), line);
    const magnitude = BigInt(`0x${m[6]}`);
    current.push({
      offset: BigInt(`0x${m[1]}`),
      info: BigInt(`0x${m[2]}`),
      type: m[3],
      symbolName: m[4],
      addend: m[5] === '-' ? -magnitude : magnitude,
    });
  }
  for (const [name, rows] of sections) {
    if (rows.length !== expected.get(name)) throw new Error(`${file}: parsed ${rows.length} of ${expected.get(name)} entries in ${name}`);
  }
  return sections;
}

/** `readelf -SW`: the section header table. */
export function readelfSections(file: string): ReadelfSection[] {
  const rows: ReadelfSection[] = [];
  for (const line of readelf(['-S'], file)) {
    if (!/^\s*\[\s*\d+\]/.test(line) || line.includes('[Nr]')) continue;
    const m = must(
      /^\s*\[\s*(\d+)\] (.*?)\s+(\S+)\s+([0-9a-f]{16}) ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]{2}) .{3}\s*(\d+)\s+(\d+)\s+(\d+)$/.exec(line),
      line,
    );
    rows.push({
      index: Number(m[1]),
      name: m[2],
      type: m[3],
      addr: BigInt(`0x${m[4]}`),
      offset: Number(`0x${m[5]}`),
      size: Number(`0x${m[6]}`),
      entsize: Number(`0x${m[7]}`),
      link: Number(m[8]),
      info: Number(m[9]),
      align: Number(m[10]),
    });
  }
  return rows;
}

/** `readelf -lW`: the program headers. */
export function readelfSegments(file: string): ReadelfSegment[] {
  const rows: ReadelfSegment[] = [];
  for (const line of readelf(['-l'], file)) {
    const m = /^\s+(\S+)\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) 0x([0-9a-f]+) (.{3}) 0x([0-9a-f]+)$/.exec(line);
    if (!m) continue;
    rows.push({
      type: m[1],
      offset: Number(`0x${m[2]}`),
      vaddr: BigInt(`0x${m[3]}`),
      paddr: BigInt(`0x${m[4]}`),
      filesz: Number(`0x${m[5]}`),
      memsz: Number(`0x${m[6]}`),
      flags: m[7],
      align: Number(`0x${m[8]}`),
    });
  }
  return rows;
}
