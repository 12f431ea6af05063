// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What each instruction of the image means to the ground-truth hook, decided once from the
 * disassembly, never from ORC: calls, returns, iretq, interrupt gates (the IDT's targets) and
 * the first instruction of a new task change the shadow stacks; fentry sites, entry code, the
 * middle of prologues and of epilogues are the places a sampler wants to catch tasks at.
 */
import type { KernelImage } from '../../kernel/index.ts';
import { disassemble, loadDisassembler, type Insn } from '../../emu/index.ts';
import { STT_FUNC } from '../../elf/index.ts';

/** Effects (low 3 bits), as orcgt.c numbers them. */
export const GT_CALL = 1;
export const GT_RET = 2;
export const GT_IRET = 3;
export const GT_GATE = 4;
export const GT_RESET = 5;
/** Classes a stop can be asked to land on. */
export const CLS_FENTRY = 0x10;
export const CLS_ENTRY = 0x20;
export const CLS_PROLOGUE = 0x40;
export const CLS_EPILOGUE = 0x80;

/** The entry-code symbols (arch/entry.S) whose instructions count as "entry code". */
const ENTRY_SYMBOLS = [
  'irq_entries_start',
  'asm_common_interrupt',
  'entry_INT80',
  'common_return',
  'restore_regs_and_iret',
  'ret_from_fork',
];

export interface CodeClasses {
  /** The classified range: every executable section of the image. */
  base: bigint;
  size: number;
  /** By instruction start: GT_GATE / GT_RESET and the CLS_* flags. */
  cls: Uint8Array;
  /** By instruction end (size + 1 bytes): GT_CALL / GT_RET / GT_IRET. */
  endcls: Uint8Array;
  ilen: Uint8Array;
}

const cache = new WeakMap<KernelImage, CodeClasses>();

function decodeRange(bytes: Uint8Array, address: bigint): Insn[] {
  const out: Insn[] = [];
  let at = 0;
  while (at < bytes.length) {
    const insns = disassemble(bytes.subarray(at), address + BigInt(at));
    if (!insns.length) {
      at++;
      continue;
    }
    out.push(...insns);
    const last = insns[insns.length - 1];
    at = Number(last.address - address) + last.size;
  }
  return out;
}

const isPush = (i: Insn) => i.mnemonic === 'push' || (i.mnemonic === 'sub' && i.opStr.startsWith('rsp,'));
const isPop = (i: Insn) => i.mnemonic === 'pop' || i.mnemonic === 'leave' || (i.mnemonic === 'add' && i.opStr.startsWith('rsp,'));

/** Classifies the image's code (computed once per image). */
export async function classifyCode(image: KernelImage): Promise<CodeClasses> {
  const hit = cache.get(image);
  if (hit) return hit;
  await loadDisassembler();
  const ranges = image.codeRanges();
  const base = ranges.reduce((m, r) => (r.address < m ? r.address : m), ranges[0].address);
  const end = ranges.reduce((m, r) => (r.address + BigInt(r.bytes.length) > m ? r.address + BigInt(r.bytes.length) : m), 0n);
  const size = Number(end - base);
  const cls = new Uint8Array(new ArrayBuffer(size));
  const ilen = new Uint8Array(new ArrayBuffer(size));
  const endcls = new Uint8Array(new ArrayBuffer(size + 1));
  const at = (a: bigint) => Number(a - base);
  const inKernel = (a: bigint) => a >= image.textStart && a < image.textEnd;
  const byAddress = new Map<bigint, Insn>();
  const ordered: Insn[] = [];
  for (const r of ranges) {
    for (const i of decodeRange(r.bytes, r.address)) {
      ilen[at(i.address)] = i.size;
      byAddress.set(i.address, i);
      if (inKernel(i.address)) ordered.push(i);
    }
  }
  // these end a translated block: their effect is known when the next block starts
  for (const i of ordered) {
    const o = at(i.address) + i.size;
    if (i.mnemonic === 'call') endcls[o] = GT_CALL;
    else if (i.mnemonic === 'ret') endcls[o] = GT_RET;
    else if (i.mnemonic === 'iretq') endcls[o] = GT_IRET;
  }
  // the IDT's targets: one 16-byte stub per vector, and the system call gate
  const stubs = image.elf.findSymbol('irq_entries_start');
  for (let a = stubs.value; a < stubs.value + BigInt(stubs.size); a += 16n) cls[at(a)] = (cls[at(a)] & ~7) | GT_GATE;
  const int80 = image.symbol('entry_INT80');
  cls[at(int80)] = (cls[at(int80)] & ~7) | GT_GATE;
  const rff = image.symbol('ret_from_fork');
  cls[at(rff)] = (cls[at(rff)] & ~7) | GT_RESET;
  for (const name of ENTRY_SYMBOLS) {
    const s = image.elf.findSymbol(name);
    for (let a = s.value; a < s.value + BigInt(s.size); a++) if (byAddress.has(a)) cls[at(a)] |= CLS_ENTRY;
  }
  // fentry sites: __mcount_loc lists every one
  const mcount = image.elf.section('__mcount_loc');
  if (mcount) {
    const d = mcount.data();
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let o = 0; o + 8 <= d.byteLength; o += 8) {
      const a = v.getBigUint64(o, true);
      if (a >= base && a < end) cls[at(a)] |= CLS_FENTRY;
    }
  }
  // prologues and epilogues of C functions: the instructions between the first and the last
  // push (or sub rsp) at the start, and between the first pop (or add rsp) and the ret
  for (const sym of image.elf.symbols) {
    if (sym.type !== STT_FUNC || !sym.size || !inKernel(sym.value)) continue;
    const fn: Insn[] = [];
    for (let a = sym.value; a < sym.value + BigInt(sym.size);) {
      const i = byAddress.get(a);
      if (!i) break;
      fn.push(i);
      a += BigInt(i.size);
    }
    let k = 0;
    if (fn[0] && fn[0].mnemonic === 'nop') k = 1;
    if (fn[k] && isPush(fn[k])) for (k++; k < fn.length && isPush(fn[k]); k++) cls[at(fn[k].address)] |= CLS_PROLOGUE;
    fn.forEach((i, n) => {
      if (i.mnemonic !== 'ret') return;
      let j = n - 1;
      while (j >= 0 && isPop(fn[j])) j--;
      if (j === n - 1) return;
      for (let m = j + 2; m <= n; m++) cls[at(fn[m].address)] |= CLS_EPILOGUE;
    });
  }
  const result = { base, size, cls, endcls, ilen };
  cache.set(image, result);
  return result;
}
