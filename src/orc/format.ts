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
 * What an entry tells the unwinder, whatever the layout:
 * UNDEFINED: no unwind information here (a section terminator or a blind spot);
 * END: the bottom of a stack; CALL: a return address sits below the previous sp;
 * REGS: a full pt_regs at the computed sp; REGS_PARTIAL: only the hardware's iret frame;
 * UNKNOWN: a type value no kernel defines.
 */
export const KIND_UNDEFINED = 0;
export const KIND_END = 1;
export const KIND_CALL = 2;
export const KIND_REGS = 3;
export const KIND_REGS_PARTIAL = 4;
export const KIND_UNKNOWN = 5;
export type OrcKind = 0 | 1 | 2 | 3 | 4 | 5;

export const KIND_NAMES = ['undefined', 'end-of-stack', 'call', 'regs', 'regs-partial', 'unknown'] as const;

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
  if (spReg === ORC_REG_UNDEFINED) return end ? KIND_END : KIND_UNDEFINED;
  return type === 0 ? KIND_CALL : type === 1 ? KIND_REGS : type === 2 ? KIND_REGS_PARTIAL : KIND_UNKNOWN;
}

function kind64(spReg: number, type: number): OrcKind {
  switch (type) {
    case 0:
      return KIND_UNDEFINED;
    case 1:
      return KIND_END;
    case 2:
    case 3:
    case 4:
      // a CALL/REGS entry without a base register cannot be followed: treat it as a blind spot
      return spReg === ORC_REG_UNDEFINED ? KIND_UNDEFINED : ((type as OrcKind));
    default:
      return KIND_UNKNOWN;
  }
}

/**
 * Whether an entry is a section terminator, which sorting puts first among entries at the same
 * address so that a lookup prefers the real entry that starts where a section ends.
 */
export function isTerminator(e: Pick<OrcEntry, 'spReg' | 'type' | 'flag'>, layout: OrcLayout): boolean {
  return layout === '6.1' ? e.spReg === ORC_REG_UNDEFINED && e.flag === 0 : e.type === 0;
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
