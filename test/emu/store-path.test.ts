// SPDX-License-Identifier: GPL-2.0-or-later
// The cheap store path of src/emu/native/store-path.c: loading the native library rewrites
// libunicorn's two page-collection slots, and guest stores still do everything they did --
// a store into code that already ran drops its translation, so the new instruction runs,
// within one block and across blocks, on memory the host shares (uc_mem_map_ptr) as the
// lab's RAM is.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as C from '../../src/emu/unicorn-const.ts';
import { Uc } from '../../src/emu/unicorn.ts';
import { klpemu } from '../../src/emu/native/index.ts';
import { asm as assemble } from './asm.ts';

const asm = (src: string): Buffer => assemble(src).code;

const BASE = 0x10_0000n;
const SIZE = 0x10000;
const open: Uc[] = [];
function engine(): Uc {
  const uc = Uc.open(C.UC_ARCH_X86, C.UC_MODE_64);
  open.push(uc);
  uc.memMapPtr(BASE, SIZE, C.UC_PROT_ALL, Buffer.alloc(SIZE));
  return uc;
}
afterEach(() => {
  for (const uc of open.splice(0)) uc.close();
});

describe('store path', () => {
  beforeAll(() => {
    klpemu();
  });

  it("rewrites both of Unicorn 2.0.1's page-collection slots", () => {
    expect(klpemu().fastStores).toBe(2);
    // idempotent: a second call finds the slots already pointing at the no-op versions
    expect(klpemu().fastStores).toBe(2);
  });

  // a loop whose body is rewritten by its own second pass: `mov eax, imm32` at `patch` adds 1,
  // then the loop stores 100 into that immediate, so the next pass must add 100
  const loop = asm(`
    xor ecx, ecx
    mov ebx, 2
again:
patch:
    mov eax, 1
    add ecx, eax
    lea rdx, [rip + patch + 1]
    mov dword ptr [rdx], 100
    dec ebx
    jnz again
    hlt
`);

  it('a store into code that already ran drops its translation (self-modifying code)', () => {
    const uc = engine();
    uc.memWrite(BASE, loop);
    uc.emuStart(BASE, BASE + BigInt(loop.length - 1));
    expect(uc.regRead(C.UC_X86_REG_RCX)).toBe(101n);
  });

  it('stores to a data page are seen by later loads, in one engine and through the shared buffer', () => {
    const code = asm(`
    mov rdi, 0x108000
    mov ecx, 1000
1:
    mov qword ptr [rdi], rcx
    add rax, qword ptr [rdi]
    dec ecx
    jnz 1b
    hlt
`);
    const uc = engine();
    uc.memWrite(BASE, code);
    uc.regWrite(C.UC_X86_REG_RAX, 0n);
    uc.emuStart(BASE, BASE + BigInt(code.length - 1));
    expect(uc.regRead(C.UC_X86_REG_RAX)).toBe(500500n);
    expect(uc.memRead(0x108000n, 8).readBigUInt64LE()).toBe(1n);
  });
});
