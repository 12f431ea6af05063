// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * capstone (wasm, from npm) for x86-64: checking patch sites, counting instructions, showing
 * code in reports. It returns addresses as signed numbers; we hand out unsigned bigints.
 * Loading is asynchronous, once per process; everything after that is synchronous.
 */
import { loadX86Engine } from './wasm-x86.ts';

export interface Insn {
  address: bigint;
  size: number;
  bytes: Uint8Array;
  mnemonic: string;
  opStr: string;
}

interface CapstoneInsn {
  address: bigint | number;
  size: number;
  bytes: ArrayLike<number>;
  mnemonic: string;
  op_str: string;
}
interface CapstoneHandle {
  disasm(code: Uint8Array | number[], address: bigint | number, count?: number): CapstoneInsn[];
}

let handle: CapstoneHandle | null = null;
let loading: Promise<void> | null = null;

export function loadDisassembler(): Promise<void> {
  if (handle) return Promise.resolve();
  loading ??= loadX86Engine<CapstoneHandle>('@alexaltea/capstone-js', 'Capstone').then((h) => {
    handle = h;
  });
  return loading;
}

function cs(): CapstoneHandle {
  if (!handle) throw new Error('disassembler not loaded: await loadDisassembler() first');
  return handle;
}

/**
 * capstone-js throws (a string, not an Error) when cs_disasm decodes nothing; with cs_errno
 * CS_ERR_OK that only means the first bytes are not an instruction, which callers handle as an
 * empty result (module text made of data, a damaged object), not as a failure of the engine.
 */
function disasmOrNone(code: Uint8Array, address: bigint, count: number): CapstoneInsn[] {
  try {
    return cs().disasm(code, address, count);
  } catch (e) {
    if (typeof e === 'string' && /cs_disasm failed with code 0\b/.test(e)) return [];
    throw typeof e === 'string' ? new Error(e) : e;
  }
}

/** Decodes up to count instructions (all, by default) starting at address; stops at invalid bytes (none: []). */
export function disassemble(code: Uint8Array, address: bigint, count = 0): Insn[] {
  return disasmOrNone(code, address, count).map((i) => ({
    address: BigInt.asUintN(64, BigInt(i.address)),
    size: i.size,
    bytes: Uint8Array.from(i.bytes),
    mnemonic: i.mnemonic,
    opStr: i.op_str,
  }));
}

/**
 * The instructions that can set IF, the only places where a masked interrupt may become
 * deliverable in the middle of a quantum (the machine's interrupt windows).
 */
const SETS_IF = new Set(['sti', 'popf', 'popfd', 'popfq', 'iret', 'iretd', 'iretq']);
export function mayEnableInterrupts(i: Pick<Insn, 'mnemonic'>): boolean {
  return SETS_IF.has(i.mnemonic);
}

export function formatInsn(i: Insn): string {
  return `${i.mnemonic}${i.opStr ? ' ' + i.opStr : ''}`;
}
