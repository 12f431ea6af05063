// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * keystone (wasm, from npm) for x86-64: the few instructions the host generates itself (the
 * patch points of ftrace's dynamic trampolines) are assembled from their assembly text rather
 * than encoded by hand. keystone takes the address as a JS number, signed for kernel-style
 * addresses (0xffffffff81000000 passes as -0x7f000000). Loading is asynchronous, once per
 * process; everything after that is synchronous.
 */
import { createRequire } from 'node:module';

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
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const factory = require('@alexaltea/keystone-js') as () => Promise<{
      Keystone: new (arch: number, mode: number) => KeystoneHandle;
      ARCH_X86: number;
      MODE_64: number;
    }>;
    const ks = await factory();
    handle = new ks.Keystone(ks.ARCH_X86, ks.MODE_64);
  })();
  return loading;
}

/** Assembles one or more instructions (Intel syntax) placed at address. */
export function assemble(text: string, address: bigint): Uint8Array {
  if (!handle) throw new Error('assembler not loaded: await loadAssembler() first');
  const r = handle.asm(text, Number(BigInt.asIntN(64, address)));
  if (r.failed || !r.count) throw new AssemblerError(text, address);
  return Uint8Array.from(r.mc);
}
