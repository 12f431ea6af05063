// SPDX-License-Identifier: GPL-2.0-or-later
/* The unwinder's reasons are one table: each name has one code (never RELIABLE's) and one text. */
import { describe, expect, it } from 'vitest';
import { codeOf, reasonOf, RELIABLE, UNWIND_REASONS, type UnreliableReason } from '../../src/orc/unwind.ts';

describe('unreliable reasons', () => {
  it('map names, codes and texts one to one', () => {
    const names = Object.keys(UNWIND_REASONS) as UnreliableReason[];
    const codes = names.map(codeOf);
    expect(new Set(codes).size).toBe(names.length);
    expect(codes).not.toContain(RELIABLE);
    for (const r of names) expect(reasonOf(codeOf(r))).toBe(r);
    expect(new Set(names.map((r) => UNWIND_REASONS[r].text)).size).toBe(names.length);
    expect(UNWIND_REASONS['kernel-regs'].text).toBe('kernel-mode register frame mid-stack');
  });
});
