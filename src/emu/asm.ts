// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * keystone (wasm, from npm) for x86-64: the few instructions the host generates itself (the
 * patch points of ftrace's dynamic trampolines) are assembled from their assembly text rather
 * than encoded by hand. keystone takes the address as a JS number, signed for kernel-style
 * addresses (0xffffffff81000000 passes as -0x7f000000). Loading is asynchronous, once per
 * process; everything after that is synchronous.
 */
import { loadX86Engine } from './wasm-x86.ts';

interface KeystoneHandle {
  asm(text: string, address: number): { mc: Uint8Array; count: number; failed: boolean };
}

let handle: KeystoneHandle | null = null;
let loading: Promise<void> | null = null;

export class AssemblerError extends Error {
  constructor(
    readonly text: string,
    readonly address: bigint,
  ) {
    super(`keystone cannot assemble '${text}' at 0x${address.toString(16)}`);
    this.name = 'AssemblerError';
  }
}

export function loadAssembler(): Promise<void> {
  if (handle) return Promise.resolve();
  loading ??= loadX86Engine<KeystoneHandle>('@alexaltea/keystone-js', 'Keystone').then((h) => {
    handle = h;
  });
  return loading;
}

/** Assembles one or more instructions (Intel syntax) placed at address. */
export function assemble(text: string, address: bigint): Uint8Array {
  if (!handle) throw new Error('assembler not loaded: await loadAssembler() first');
  const r = handle.asm(text, Number(BigInt.asIntN(64, address)));
  if (r.failed || !r.count) throw new AssemblerError(text, address);
  return Uint8Array.from(r.mc);
}
