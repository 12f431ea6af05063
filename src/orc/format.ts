// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ORC entry formats objtool writes, and one normalised view of them. Two layouts exist:
 * the one of objtool up to 6.3 (type:2 and an `end` bit, end of stack = undefined sp with end
 * set) and the one from 6.4 on (type:3 with explicit UNDEFINED and END_OF_STACK types, and a
 * `signal` bit), which a linked image announces with an .orc_header section. Everything above
 * this file (tables, unwinder, dump) works on the normalised kind, so the unwinder has one
 * code path for both.
 */

/** Bytes per .orc_unwind entry (both layouts): s16 sp_offset, s16 bp_offset, u16 bits. */
export const ORC_ENTRY_SIZE = 6;
/** Bytes per .orc_unwind_ip entry: an s32 relative to the entry's own address. */
export const ORC_IP_SIZE = 4;

/** Base registers (the same numbers in both layouts). */
export const ORC_REG_UNDEFINED = 0;
export const ORC_REG_PREV_SP = 1;
export const ORC_REG_DX = 2;
export const ORC_REG_DI = 3;
export const ORC_REG_BP = 4;
export const ORC_REG_SP = 5;
export const ORC_REG_R10 = 6;
export const ORC_REG_R13 = 7;
export const ORC_REG_BP_INDIRECT = 8;
export const ORC_REG_SP_INDIRECT = 9;

/** Which layout a file's entries use. */
export type OrcLayout = '6.1' | '6.4';

/**
 * What an entry tells the unwinder, whatever the layout: the kernel's ORC_TYPE_* names, with
 * the values 6.4+ stores (its set is the larger one, so its numbering is the normalised one).
 * UNDEFINED: no unwind information here (a section terminator or a blind spot);
 * END_OF_STACK: the bottom of a stack; CALL: a return address sits below the previous sp;
 * REGS: a full pt_regs at the computed sp; REGS_PARTIAL: only the hardware's iret frame.
 * ORC_TYPE_UNKNOWN is the lab's own: a type value no kernel defines.
 */
export const ORC_TYPE_UNDEFINED = 0;
export const ORC_TYPE_END_OF_STACK = 1;
export const ORC_TYPE_CALL = 2;
export const ORC_TYPE_REGS = 3;
export const ORC_TYPE_REGS_PARTIAL = 4;
export const ORC_TYPE_UNKNOWN = 5;
export type OrcKind = 0 | 1 | 2 | 3 | 4 | 5;

/**
 * The values up to 6.3 stores in its 2-bit type field, under the same names there; it has no
 * UNDEFINED or END_OF_STACK type (an undefined sp register, with or without the end bit).
 */
const ORC_TYPE_61_CALL = 0;
const ORC_TYPE_61_REGS = 1;
const ORC_TYPE_61_REGS_PARTIAL = 2;

/** One entry as the file has it, with its normalised kind. */
export interface OrcEntry {
  spOffset: number;
  bpOffset: number;
  spReg: number;
  bpReg: number;
  /** The type field as stored (2 bits in 6.1, 3 bits in 6.4+). */
  type: number;
  /** 6.1: the end bit; 6.4+: the signal bit. */
  flag: number;
  kind: OrcKind;
}

/** Splits the 16-bit field of an entry and normalises its meaning. */
export function decodeBits(bits: number, layout: OrcLayout): Pick<OrcEntry, 'spReg' | 'bpReg' | 'type' | 'flag' | 'kind'> {
  const spReg = bits & 0xf;
  const bpReg = (bits >> 4) & 0xf;
  if (layout === '6.1') {
    const type = (bits >> 8) & 3;
    const flag = (bits >> 10) & 1;
    return { spReg, bpReg, type, flag, kind: kind61(spReg, type, flag) };
  }
  const type = (bits >> 8) & 7;
  const flag = (bits >> 11) & 1;
  return { spReg, bpReg, type, flag, kind: kind64(spReg, type) };
}

function kind61(spReg: number, type: number, end: number): OrcKind {
  // 6.1 has no explicit type for "nothing known" or "bottom": both are an undefined sp
  if (spReg === ORC_REG_UNDEFINED) return end ? ORC_TYPE_END_OF_STACK : ORC_TYPE_UNDEFINED;
  switch (type) {
    case ORC_TYPE_61_CALL:
      return ORC_TYPE_CALL;
    case ORC_TYPE_61_REGS:
      return ORC_TYPE_REGS;
    case ORC_TYPE_61_REGS_PARTIAL:
      return ORC_TYPE_REGS_PARTIAL;
    default:
      return ORC_TYPE_UNKNOWN;
  }
}

function kind64(spReg: number, type: number): OrcKind {
  switch (type) {
    case ORC_TYPE_UNDEFINED:
    case ORC_TYPE_END_OF_STACK:
      return type;
    case ORC_TYPE_CALL:
    case ORC_TYPE_REGS:
    case ORC_TYPE_REGS_PARTIAL:
      // a CALL/REGS entry without a base register cannot be followed: treat it as a blind spot
      return spReg === ORC_REG_UNDEFINED ? ORC_TYPE_UNDEFINED : type;
    default:
      return ORC_TYPE_UNKNOWN;
  }
}

/**
 * Whether an entry is a section terminator, which sorting puts first among entries at the same
 * address so that a lookup prefers the real entry that starts where a section ends.
 */
export function isTerminator(e: Pick<OrcEntry, 'spReg' | 'type' | 'flag'>, layout: OrcLayout): boolean {
  return layout === '6.1' ? e.spReg === ORC_REG_UNDEFINED && e.flag === 0 : e.type === ORC_TYPE_UNDEFINED;
}

/** objtool's register spelling in --dump=orc output. */
export function regName(reg: number): string {
  switch (reg) {
    case ORC_REG_PREV_SP:
      return 'prevsp';
    case ORC_REG_DX:
      return 'dx';
    case ORC_REG_DI:
      return 'di';
    case ORC_REG_BP:
      return 'bp';
    case ORC_REG_SP:
      return 'sp';
    case ORC_REG_R10:
      return 'r10';
    case ORC_REG_R13:
      return 'r13';
    case ORC_REG_BP_INDIRECT:
      return 'bp(ind)';
    case ORC_REG_SP_INDIRECT:
      return 'sp(ind)';
    default:
      return '?';
  }
}

/** printf("%+d") */
function signed(n: number): string {
  return n < 0 ? String(n) : `+${n}`;
}

/** A base register and offset the way objtool prints them. */
export function formatReg(reg: number, offset: number): string {
  if (reg === ORC_REG_BP_INDIRECT) return `(bp${signed(offset)})`;
  if (reg === ORC_REG_SP_INDIRECT) return `(sp)${signed(offset)}`;
  if (reg === ORC_REG_UNDEFINED) return '(und)';
  return `${regName(reg)}${signed(offset)}`;
}

/** objtool's name for a stored type value. */
export function typeName(type: number, layout: OrcLayout): string {
  if (layout === '6.1') return ['call', 'regs', 'regs (partial)'][type] ?? '?';
  return ['(und)', 'end', 'call', 'regs', 'regs (partial)'][type] ?? '?';
}
