// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The image's static branches (firmware/include/lab/printk.h, trace_entry_on()): each is a
 * 5-byte NOP that an entry of __jump_table pairs with the code it may jump to, as the
 * kernel's jump labels are. A traced session turns them all on by writing a jmp over each NOP
 * before the first instruction runs, so nothing was translated from the old bytes and an
 * untraced session runs the NOPs it was built with (no test, no branch).
 */
import type { GuestMemory } from '../emu/index.ts';
import type { KernelImage } from './image.ts';

/** An entry: s32 code - &entry, s32 target - &entry.target, s64 key - &entry.key. */
const ENTRY_SIZE = 16;
/** The 5-byte NOP a disabled branch holds (nopl 0(%rax,%rax,1)). */
const NOP5 = [0x0f, 0x1f, 0x44, 0x00, 0x00];
const JMP_REL32 = 0xe9;

export class JumpLabelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JumpLabelError';
  }
}

/** Every static branch of the image: where its NOP is and where it jumps when on. */
export function jumpEntries(image: KernelImage): { code: bigint; target: bigint }[] {
  const section = image.elf.sections.find((s) => s.name === '__jump_table');
  if (!section) return [];
  const bytes = section.data();
  if (bytes.length % ENTRY_SIZE)
    throw new JumpLabelError(`${image.path}: __jump_table is ${bytes.length} bytes, not a multiple of ${ENTRY_SIZE}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  for (let off = 0; off < bytes.length; off += ENTRY_SIZE) {
    const at = section.addr + BigInt(off);
    out.push({ code: at + BigInt(view.getInt32(off, true)), target: at + 4n + BigInt(view.getInt32(off + 4, true)) });
  }
  return out;
}

/**
 * Turns every static branch on: its NOP becomes `jmp target`. Each site must hold the NOP (a
 * JumpLabelError names the one that does not, and nothing is written).
 */
export function enableJumpLabels(image: KernelImage, mem: GuestMemory): number {
  const entries = jumpEntries(image);
  for (const { code } of entries) {
    const b = mem.bytes(code, NOP5.length);
    if (!NOP5.every((v, i) => b[i] === v))
      throw new JumpLabelError(`static branch at 0x${code.toString(16)}: expected a 5-byte NOP, found ${Buffer.from(b).toString('hex')}`);
  }
  for (const { code, target } of entries) {
    const jmp = Buffer.alloc(5);
    jmp[0] = JMP_REL32;
    jmp.writeInt32LE(Number(target - (code + 5n)), 1);
    mem.write(code, jmp);
  }
  return entries.length;
}
