// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Mutations of an ELF file for the fuzz test: bit flips, truncation, ELF and section header
 * fields, huge sizes and offsets, ranges made to overlap, and symbol, relocation and ORC
 * entries. Each variant is a function of (file, seed) alone, and says what it did, so a failure
 * is replayed with mutate(bytes, seed).
 */
import { Prng } from '../../src/emu/prng.ts';
import { ElfFile, type ElfSection } from '../../src/elf/index.ts';
import { ELF64_RELA_SIZE, ELF64_SYM_SIZE, SHT_RELA, SHT_SYMTAB } from '../../src/elf/constants.ts';

export const STRATEGIES = ['bitflip', 'truncate', 'header', 'section', 'huge', 'overlap', 'symbol', 'relocation', 'orc'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** What the mutations need to know of the pristine file, computed once. */
export interface Anatomy {
  readonly bytes: Uint8Array;
  readonly shoff: number;
  readonly sections: readonly ElfSection[];
  readonly symtab?: ElfSection;
  readonly relas: readonly ElfSection[];
  readonly orc: readonly ElfSection[];
}

export function anatomy(bytes: Uint8Array, name: string): Anatomy {
  const elf = ElfFile.parse(bytes, name);
  return {
    bytes,
    shoff: Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true)),
    sections: elf.sections,
    symtab: elf.sections.find((s) => s.type === SHT_SYMTAB),
    relas: elf.sections.filter((s) => s.type === SHT_RELA && s.size > 0),
    orc: elf.sections.filter((s) => s.name === '.orc_unwind' || s.name === '.orc_unwind_ip'),
  };
}

/** Field offset and width in an Elf64_Ehdr, an Elf64_Shdr, an Elf64_Sym, an Elf64_Rela. */
const EHDR_FIELDS: Array<[string, number, number]> = [
  ['e_type', 16, 2],
  ['e_machine', 18, 2],
  ['e_entry', 24, 8],
  ['e_phoff', 32, 8],
  ['e_shoff', 40, 8],
  ['e_ehsize', 52, 2],
  ['e_phentsize', 54, 2],
  ['e_phnum', 56, 2],
  ['e_shentsize', 58, 2],
  ['e_shnum', 60, 2],
  ['e_shstrndx', 62, 2],
];
const SHDR_FIELDS: Array<[string, number, number]> = [
  ['sh_name', 0, 4],
  ['sh_type', 4, 4],
  ['sh_flags', 8, 8],
  ['sh_addr', 16, 8],
  ['sh_offset', 24, 8],
  ['sh_size', 32, 8],
  ['sh_link', 40, 4],
  ['sh_info', 44, 4],
  ['sh_addralign', 48, 8],
  ['sh_entsize', 56, 8],
];
const SYM_FIELDS: Array<[string, number, number]> = [
  ['st_name', 0, 4],
  ['st_info', 4, 1],
  ['st_other', 5, 1],
  ['st_shndx', 6, 2],
  ['st_value', 8, 8],
  ['st_size', 16, 8],
];
const RELA_FIELDS: Array<[string, number, number]> = [
  ['r_offset', 0, 8],
  ['r_type', 8, 4],
  ['r_sym', 12, 4],
  ['r_addend', 16, 8],
];

export interface Variant {
  readonly bytes: Uint8Array;
  readonly strategy: Strategy;
  /** What was done, for the failure report. */
  readonly what: string;
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The variant of `a` for `seed` with `strategy`. */
export function mutate(a: Anatomy, strategy: Strategy, seed: number): Variant {
  const rng = new Prng(seed);
  const below = (n: number) => rng.below(n);
  const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)];
  const u64 = () => (BigInt(rng.next()) << 32n) | BigInt(rng.next());
  const out = new Uint8Array(a.bytes);
  const view = new DataView(out.buffer);
  const len = out.length;
  /** Values that break parsers: edges of every width, the file's own size, and random ones. */
  const interesting = (width: number): bigint => {
    const max = (1n << BigInt(8 * width)) - 1n;
    const choices = [
      0n,
      1n,
      2n,
      7n,
      8n,
      0x7fn,
      0x80n,
      0xffn,
      0xffffn,
      0x7fffffffn,
      0x80000000n,
      0xffffffffn,
      max,
      max - 1n,
      BigInt(len),
      BigInt(len - 1),
      BigInt(len + 1),
      u64(),
    ];
    if (width === 8) choices.push(1n << 53n, (1n << 53n) - 1n, 1n << 63n, 0xffffffff80000000n, 0x100000000n);
    return pick(choices) & max;
  };
  const set = (at: number, width: number, v: bigint) => {
    if (at < 0 || at + width > len) return;
    if (width === 1) view.setUint8(at, Number(v & 0xffn));
    else if (width === 2) view.setUint16(at, Number(v & 0xffffn), true);
    else if (width === 4) view.setUint32(at, Number(v & 0xffffffffn), true);
    else view.setBigUint64(at, v, true);
  };
  const shdr = (s: ElfSection) => a.shoff + s.index * 64;
  const field = (base: number, fields: Array<[string, number, number]>, value?: (w: number) => bigint): string => {
    const [name, off, width] = pick(fields);
    const v = value ? value(width) : interesting(width);
    set(base + off, width, v);
    return `${name}=${hex(v)}`;
  };
  const sectionField = (s: ElfSection, fields = SHDR_FIELDS, value?: (w: number) => bigint) =>
    `section [${s.index}] ${s.name} ${field(shdr(s), fields, value)}`;
  const entry = (table: ElfSection, size: number): number => table.offset + size * below(Math.max(1, Math.floor(table.size / size)));

  let what: string;
  let bytes: Uint8Array = out;
  switch (strategy) {
    case 'bitflip': {
      const n = 1 + below(8);
      const at: number[] = [];
      // half the flips land in the headers and tables, where they matter most
      for (let i = 0; i < n; i++) {
        const p = below(2) ? below(len) : below(2) ? below(64) : a.shoff + below(len - a.shoff);
        out[p] ^= 1 << below(8);
        at.push(p);
      }
      what = `flip bits at ${at.map(hex).join(',')}`;
      break;
    }
    case 'truncate': {
      // anywhere, or just inside or past a section's end
      const s = pick(a.sections);
      const cut = below(2) ? below(len) : Math.min(len, Math.max(0, s.offset + s.size - below(3) * 8 + below(3) - 1));
      bytes = out.subarray(0, cut);
      what = `truncate to ${hex(cut)}`;
      break;
    }
    case 'header':
      what = field(0, EHDR_FIELDS);
      break;
    case 'section':
      what = sectionField(pick(a.sections));
      break;
    case 'huge': {
      const huge = () =>
        pick([1n << 32n, 1n << 40n, (1n << 53n) - 1n, 1n << 53n, 1n << 63n, 0xffffffffffffffffn, BigInt(len) * 1024n, 0x7ffffff0n]);
      const s = pick(a.sections);
      what = sectionField(
        s,
        SHDR_FIELDS.filter(([n]) => ['sh_offset', 'sh_size', 'sh_addr', 'sh_addralign', 'sh_entsize'].includes(n)),
        huge,
      );
      break;
    }
    case 'overlap': {
      // one section's bytes made to be (or run into) another's: tables over tables, over headers
      const s = pick(a.sections);
      const t = pick(a.sections);
      const mode = below(3);
      const offset = mode === 2 ? a.shoff : t.offset + (mode === 1 ? below(Math.max(1, t.size)) : 0);
      const size = mode === 0 ? t.size : Math.min(len - offset, s.size || 8);
      set(shdr(s) + 24, 8, BigInt(offset));
      set(shdr(s) + 32, 8, BigInt(Math.max(0, size)));
      what = `section [${s.index}] ${s.name} over ${mode === 2 ? 'the section headers' : `[${t.index}] ${t.name}`}: offset ${hex(offset)} size ${hex(size)}`;
      break;
    }
    case 'symbol': {
      if (!a.symtab) return mutate(a, 'section', seed);
      const at = entry(a.symtab, ELF64_SYM_SIZE);
      what = `symbol at ${hex(at)} ${field(at, SYM_FIELDS)}`;
      break;
    }
    case 'relocation': {
      if (!a.relas.length) return mutate(a, 'section', seed);
      const rela = pick(a.relas);
      const at = entry(rela, ELF64_RELA_SIZE);
      what = `${rela.name} entry at ${hex(at)} ${field(at, RELA_FIELDS)}`;
      break;
    }
    case 'orc': {
      if (!a.orc.length) return mutate(a, 'section', seed);
      const s = pick(a.orc);
      if (below(4) === 0) {
        what = sectionField(
          s,
          SHDR_FIELDS.filter(([n]) => ['sh_type', 'sh_size', 'sh_offset', 'sh_addr'].includes(n)),
        );
      } else {
        const w = s.name === '.orc_unwind' ? 6 : 4;
        const at = entry(s, w);
        const off = below(w);
        const v = interesting(1);
        set(at + off, 1, v);
        if (below(2)) set(at + (off ^ 1), 1, interesting(1));
        what = `${s.name} entry at ${hex(at)} byte ${off}=${hex(v)}`;
      }
      break;
    }
  }
  return { bytes, strategy, what };
}
