// SPDX-License-Identifier: GPL-2.0-or-later
// x86-64 relocation arithmetic for the module loader, as the kernel's apply_relocate_add does
// it: compute S + A (- P), check the value fits the field the way the type extends it, check
// the field still holds zero (it was never relocated), and store it little-endian into a host
// buffer. Kept apart from the layout so the livepatch core can apply relocations of its own
// (against symbols of a module that loads later) with the same rules and errors.

import {
  R_X86_64_32,
  R_X86_64_32S,
  R_X86_64_64,
  R_X86_64_NONE,
  R_X86_64_PC32,
  R_X86_64_PC64,
  R_X86_64_PLT32,
  relocationTypeName,
} from './constants.ts';
import { hex } from './format.ts';
import { ModuleFormatError, RelocationOverflowError, UnsupportedRelocationError, type RelocationInfo } from './module-errors.ts';

/** psABI names of types the reader's table does not list, so errors name what gcc/gas emitted. */
const MORE_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [3, 'R_X86_64_GOT32'],
  [5, 'R_X86_64_COPY'],
  [6, 'R_X86_64_GLOB_DAT'],
  [7, 'R_X86_64_JUMP_SLOT'],
  [8, 'R_X86_64_RELATIVE'],
  [9, 'R_X86_64_GOTPCREL'],
  [12, 'R_X86_64_16'],
  [13, 'R_X86_64_PC16'],
  [14, 'R_X86_64_8'],
  [15, 'R_X86_64_PC8'],
  [16, 'R_X86_64_DTPMOD64'],
  [17, 'R_X86_64_DTPOFF64'],
  [18, 'R_X86_64_TPOFF64'],
  [19, 'R_X86_64_TLSGD'],
  [20, 'R_X86_64_TLSLD'],
  [21, 'R_X86_64_DTPOFF32'],
  [22, 'R_X86_64_GOTTPOFF'],
  [23, 'R_X86_64_TPOFF32'],
  [25, 'R_X86_64_GOTOFF64'],
  [26, 'R_X86_64_GOTPC32'],
  [41, 'R_X86_64_GOTPCRELX'],
  [42, 'R_X86_64_REX_GOTPCRELX'],
]);

export function moduleRelocationTypeName(type: number): string {
  return MORE_TYPE_NAMES.get(type) ?? relocationTypeName(type);
}

interface Kind {
  width: 4 | 8;
  pcrel: boolean;
  /** Inclusive range of the value, before truncation to the field. */
  min: bigint;
  max: bigint;
}

const S32: Pick<Kind, 'min' | 'max'> = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const U64: Pick<Kind, 'min' | 'max'> = { min: 0n, max: 2n ** 64n - 1n };

/** The types the loader applies (R_X86_64_NONE aside) and how. */
const KINDS: ReadonlyMap<number, Kind> = new Map([
  [R_X86_64_64, { width: 8, pcrel: false, ...U64 }],
  [R_X86_64_PC64, { width: 8, pcrel: true, ...U64 }],
  [R_X86_64_PC32, { width: 4, pcrel: true, ...S32 }],
  // A call to a function: no PLT in the kernel, so the same as PC32.
  [R_X86_64_PLT32, { width: 4, pcrel: true, ...S32 }],
  // -mcmodel=kernel: an absolute address the CPU sign-extends from 32 bits (top 2 GiB).
  [R_X86_64_32S, { width: 4, pcrel: false, ...S32 }],
  // Zero-extended: the bottom 4 GiB only.
  [R_X86_64_32, { width: 4, pcrel: false, min: 0n, max: 2n ** 32n - 1n }],
]);

/** Whether the loader applies relocations of this type (NONE counts: it is skipped). */
export function isSupportedRelocation(type: number): boolean {
  return type === R_X86_64_NONE || KINDS.has(type);
}

/** One relocation as applied, for tests, dumps and the livepatch core's own checks. */
export interface AppliedRelocation {
  /** Index and name of the section patched, and the offset in it. */
  readonly section: { readonly index: number; readonly name: string };
  readonly offset: bigint;
  readonly type: number;
  readonly typeName: string;
  readonly symbol: string;
  /** S, A, P and the value stored (S + A or S + A - P, as the value before truncation). */
  readonly symbolValue: bigint;
  readonly addend: bigint;
  readonly place: bigint;
  readonly value: bigint;
  readonly width: 4 | 8;
}

export interface RelocationSite {
  /** The object, for errors. */
  readonly file: string;
  /** The section being patched: its bytes (a host copy), index, name and final address. */
  readonly bytes: Uint8Array;
  readonly section: { readonly index: number; readonly name: string };
  readonly address: bigint;
}

export interface RelocationEntry {
  readonly offset: bigint;
  readonly type: number;
  readonly addend: bigint;
  /** The symbol's name for messages ("" for a section symbol: pass the section's name). */
  readonly symbol: string;
}

/**
 * Applies one relocation to a host copy of a section, whose final address is site.address,
 * with S = symbolValue. Returns what was stored, or null for R_X86_64_NONE. Throws
 * UnsupportedRelocationError, RelocationOverflowError, or ModuleFormatError for a field outside
 * the section or one that is not zero (relocated twice).
 */
export function applyRelocation(site: RelocationSite, r: RelocationEntry, symbolValue: bigint): AppliedRelocation | null {
  if (r.type === R_X86_64_NONE) return null;
  const info: RelocationInfo = {
    section: site.section,
    offset: r.offset,
    type: r.type,
    typeName: moduleRelocationTypeName(r.type),
    symbol: r.symbol,
    addend: r.addend,
  };
  const kind = KINDS.get(r.type);
  if (!kind) throw new UnsupportedRelocationError(site.file, info);
  if (r.offset < 0n || r.offset + BigInt(kind.width) > BigInt(site.bytes.length))
    throw new ModuleFormatError(
      site.file,
      `${info.typeName} against '${r.symbol}': a ${kind.width}-byte field does not fit the section (${hex(site.bytes.length)} bytes)`,
      { section: site.section, offset: r.offset },
    );
  const at = Number(r.offset);
  const view = new DataView(site.bytes.buffer, site.bytes.byteOffset, site.bytes.byteLength);
  const old = kind.width === 8 ? view.getBigUint64(at, true) : BigInt(view.getUint32(at, true));
  if (old !== 0n)
    throw new ModuleFormatError(
      site.file,
      `${info.typeName} against '${r.symbol}': the field holds ${hex(old)}, not 0 (relocated twice?)`,
      { section: site.section, offset: r.offset },
    );
  const place = site.address + r.offset;
  const raw = symbolValue + r.addend - (kind.pcrel ? place : 0n);
  // the value as the field's extension reads it back: signed for PC-relative and 32S fields
  const value = kind.min < 0n ? BigInt.asIntN(64, raw) : BigInt.asUintN(64, raw);
  if (value < kind.min || value > kind.max) throw new RelocationOverflowError(site.file, info, value, kind.min, kind.max);
  if (kind.width === 8) view.setBigUint64(at, BigInt.asUintN(64, value), true);
  else view.setUint32(at, Number(BigInt.asUintN(32, value)), true);
  return {
    section: site.section,
    offset: r.offset,
    type: r.type,
    typeName: info.typeName,
    symbol: r.symbol,
    symbolValue,
    addend: r.addend,
    place,
    value,
    width: kind.width,
  };
}
