// SPDX-License-Identifier: GPL-2.0-or-later
// Tests of the Unicorn wrapper (src/emu/unicorn.ts) and of the native hooks
// (src/emu/native): errors, shared memory, stale translations, exact
// instruction budgets, interrupts, hooks, registers and contexts. The guest
// code is assembled here with binutils so instruction boundaries are known.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as C from '../../src/emu/unicorn-const.ts';
import { Uc, UnicornError, ucVersion } from '../../src/emu/unicorn.ts';
import {
  CTL,
  CTL_SIZE,
  CpuCtl,
  KLP_STOP_BUDGET,
  KLP_STOP_INTR,
  allocInstructionMap,
  klpemu,
  markInstruction,
} from '../../src/emu/native/index.ts';
import { asm } from './asm.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const BASE = 0x10_0000n;
const SIZE = 0x10000;
const { UC_X86_REG_RAX: RAX, UC_X86_REG_RIP: RIP } = C;

const open: Uc[] = [];
/** A 64-bit engine with SIZE bytes of RWX memory at BASE (its own, or `mem`). */
function engine(mem?: Buffer): Uc {
  const uc = Uc.open(C.UC_ARCH_X86, C.UC_MODE_64);
  open.push(uc);
  if (mem) uc.memMapPtr(BASE, SIZE, C.UC_PROT_ALL, mem);
  else uc.memMap(BASE, SIZE, C.UC_PROT_ALL);
  return uc;
}
afterEach(() => {
  for (const uc of open.splice(0)) uc.close();
});

/** Code and an instruction map with its starts marked, at BASE + off. */
function load(uc: Uc, src: string, off = 0, map?: Uint8Array): { entry: bigint; end: bigint; starts: number[] } {
  const { code, starts } = asm(src);
  uc.memWrite(BASE + BigInt(off), code);
  if (map) for (const s of starts) markInstruction(map, off + s);
  return { entry: BASE + BigInt(off), end: BASE + BigInt(off + code.length), starts };
}

// 2 + 3n instructions: 2 set-up, then n iterations of add/dec/jnz, then hlt.
const LOOP = (n: number) => `mov ecx, ${n}\nxor eax, eax\n1: add rax, 1\ndec ecx\njnz 1b\nhlt`;

beforeAll(() => {
  execFileSync('make', ['-s', '-C', join(ROOT, 'src/emu/native')]);
});

describe('constants and layout', () => {
  it('unicorn-const.ts is what the installed headers say', () => {
    const fresh = execFileSync('sh', [join(ROOT, 'src/emu/native/gen-const.sh')], { encoding: 'utf8' });
    expect(readFileSync(join(ROOT, 'src/emu/unicorn-const.ts'), 'utf8')).toBe(fresh);
    // A few anchors, so a broken generator cannot agree with itself.
    expect([C.UC_X86_REG_RAX, C.UC_X86_REG_RIP, C.UC_X86_REG_RSI, C.UC_X86_REG_GDTR]).toEqual([35, 41, 43, 243]);
    expect(C.UC_CTL_TB_REMOVE_CACHE).toBe(9 | (2 << 26) | (1 << 30));
    expect(ucVersion() >>> 16).toBe((C.UC_API_MAJOR << 8) | C.UC_API_MINOR);
  });

  it('struct klp_cpu_ctl has the same layout in C and TS', () => {
    const k = klpemu();
    expect(k.ctlSize).toBe(CTL_SIZE);
    expect(Object.values(CTL).map((_, i) => k.ctlOffset(i))).toEqual(Object.values(CTL));
    expect(k.ctlOffset(Object.keys(CTL).length)).toBe(-1);
  });
});

describe('errors', () => {
  it('names the call, the code and the address', () => {
    const uc = engine();
    let e: unknown;
    try {
      uc.memMap(BASE, 0x1000);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(UnicornError);
    const u = e as UnicornError;
    expect([u.call, u.code, u.codeName, u.address]).toEqual(['uc_mem_map', C.UC_ERR_MAP, 'UC_ERR_MAP', BASE]);
    expect(u.message).toBe('uc_mem_map(0x100000, 0x1000): Invalid memory mapping (UC_ERR_MAP) at 0x100000');

    expect(() => uc.memRead(0xdead_0000n, 8)).toThrow(
      expect.objectContaining({ call: 'uc_mem_read', codeName: 'UC_ERR_READ_UNMAPPED', address: 0xdead_0000n }),
    );
    expect(() => uc.memMapPtr(0xffff_ffff_8100_0000n, 0x123, C.UC_PROT_ALL, Buffer.alloc(0x1000))).toThrow(
      'uc_mem_map_ptr(0xffffffff81000000, 0x123): Invalid argument (UC_ERR_ARG)',
    );
  });

  it('emuStart reports the faulting address of fetches and data accesses', () => {
    const uc = engine();
    expect(() => uc.emuStart(0xdead_0000n, 0n)).toThrow(
      expect.objectContaining({ call: 'uc_emu_start', codeName: 'UC_ERR_FETCH_UNMAPPED', address: 0xdead_0000n }),
    );
    const { entry } = load(uc, 'mov rbx, 0xbeef0008\nmov rax, [rbx]\nhlt');
    expect(() => uc.emuStart(entry, 0n)).toThrow(expect.objectContaining({ codeName: 'UC_ERR_READ_UNMAPPED', address: 0xbeef_0008n }));
    const w = load(uc, 'mov rbx, 0xbeef0010\nmov [rbx], eax\nhlt', 0x100);
    expect(() => uc.emuStart(w.entry, 0n)).toThrow(expect.objectContaining({ codeName: 'UC_ERR_WRITE_UNMAPPED', address: 0xbeef_0010n }));
    const i = load(uc, 'ud2', 0x200);
    expect(() => uc.emuStart(i.entry, 0n)).toThrow(expect.objectContaining({ codeName: 'UC_ERR_INSN_INVALID', address: undefined }));
  });

  it('close is idempotent and later calls fail clearly', () => {
    const uc = Uc.open();
    uc.close();
    uc.close();
    expect(() => uc.regRead(RAX)).toThrow('closed');
  });
});

describe('shared memory and translated code', () => {
  it("two engines mapping one Buffer see each other's writes", () => {
    const mem = Buffer.alloc(SIZE);
    const a = engine(mem);
    const b = engine(mem);
    a.memWrite(BASE + 0x800n, Buffer.from('from a'));
    expect(b.memRead(BASE + 0x800n, 6).toString()).toBe('from a');
    mem.write('host', 0x900);
    expect(a.memRead(BASE + 0x900n, 4).toString()).toBe('host');
    // and a guest store on one engine is a load on the other
    const { entry } = load(a, 'mov rbx, 0x100a00\nmov qword ptr [rbx], 0x1234\nhlt');
    a.emuStart(entry, 0n);
    expect(mem.readBigUInt64LE(0xa00)).toBe(0x1234n);
    const r = load(b, 'mov rbx, 0x100a00\nmov rax, [rbx]\nhlt', 0x100);
    b.emuStart(r.entry, 0n);
    expect(b.regRead(RAX)).toBe(0x1234n);
  });

  it('rewritten code runs on an engine only after tbRemoveCache on that engine', () => {
    const mem = Buffer.alloc(SIZE);
    const a = engine(mem);
    const b = engine(mem);
    const { entry, end } = load(a, 'mov eax, 1\nhlt');
    const run = (uc: Uc) => {
      uc.emuStart(entry, 0n);
      return uc.regRead(RAX);
    };
    expect([run(a), run(b)]).toEqual([1n, 1n]);

    asm('mov eax, 2\nhlt').code.copy(mem, 0); // behind both engines' backs
    expect([run(a), run(b)]).toEqual([1n, 1n]); // stale translations
    a.memWrite(entry, asm('mov eax, 3\nhlt').code); // uc_mem_write does not invalidate either
    expect([run(a), run(b)]).toEqual([1n, 1n]);

    a.tbRemoveCache(entry, end);
    expect([run(a), run(b)]).toEqual([3n, 1n]); // per engine
    b.tbRemoveCache(entry, end);
    expect([run(a), run(b)]).toEqual([3n, 3n]);
  });

  it("a guest store invalidates only the storing engine's translation", () => {
    const mem = Buffer.alloc(SIZE);
    const a = engine(mem);
    const b = engine(mem);
    const target = load(a, 'mov eax, 1\nhlt', 0x800);
    for (const uc of [a, b]) uc.emuStart(target.entry, 0n);
    // a's guest code rewrites the imm32 of `mov eax, 1`
    const patch = load(a, `mov rbx, ${target.entry + 1n}\nmov dword ptr [rbx], 7\nhlt`);
    a.emuStart(patch.entry, 0n);
    const run = (uc: Uc) => (uc.emuStart(target.entry, 0n), uc.regRead(RAX));
    expect([run(a), run(b)]).toEqual([7n, 1n]);
    b.tbRemoveCache(target.entry, target.end);
    expect(run(b)).toBe(7n);
  });

  it('tbFlush drops everything (the first flush of an engine takes seconds)', () => {
    const uc = engine();
    const { entry } = load(uc, 'mov eax, 1\nhlt');
    uc.emuStart(entry, 0n);
    uc.memWrite(entry, asm('mov eax, 4\nhlt').code);
    uc.emuStart(entry, 0n);
    expect(uc.regRead(RAX)).toBe(1n);
    uc.tbFlush();
    uc.emuStart(entry, 0n);
    expect(uc.regRead(RAX)).toBe(4n);
  });
});

describe('native block hook (instruction budget)', () => {
  function setup(off = 0, iterations = 1000) {
    const uc = engine();
    const map = allocInstructionMap(SIZE);
    const prog = load(uc, LOOP(iterations), off, map);
    const ctl = new CpuCtl();
    ctl.setInstructionMap(map, BASE);
    ctl.attach(uc);
    return { uc, ctl, map, ...prog };
  }

  it('stops at the first block boundary at or past the budget with an exact count', () => {
    const { uc, ctl, entry, starts } = setup();
    // Blocks: [mov, xor, add, dec, jnz] = 5, then [add, dec, jnz] = 3 each.
    // stop_at 101: after 33 blocks 5 + 32 * 3 = 101 instructions have run.
    ctl.stopAt = 101n;
    uc.emuStart(entry, 0n);
    expect(ctl.stopReason).toBe(KLP_STOP_BUDGET);
    expect(ctl.insns).toBe(101n);
    expect(ctl.blocks).toBe(33n);
    expect(uc.regRead(RAX)).toBe(33n); // 2 + 3 * 33 = 101: the count is real
    // The stopping block did not run: RIP is its start (the loop head).
    expect(uc.regRead(RIP)).toBe(entry + BigInt(starts[2]));
    expect(ctl.lastBlockEnd).toBe(entry + BigInt(starts[5])); // end of the jnz block

    // stop_at 102..104 land on the next boundary, 104
    ctl.stopAt = 102n;
    ctl.stopReason = 0;
    uc.emuStart(uc.regRead(RIP), 0n);
    expect([ctl.insns, uc.regRead(RAX), ctl.stopReason]).toEqual([104n, 34n, KLP_STOP_BUDGET]);

    // Resume to the end: 2 + 3000 + hlt, nothing lost or counted twice.
    ctl.stopAt = 1n << 63n;
    ctl.stopReason = 0;
    uc.emuStart(uc.regRead(RIP), 0n);
    expect([ctl.insns, uc.regRead(RAX), ctl.stopReason]).toEqual([3003n, 1000n, 0]);
    expect(ctl.unmapped).toBe(0n);
  });

  it('counts exactly wherever the block sits in the bitmap words', () => {
    for (const off of [1, 7, 50, 55, 61, 63, 64, 0x3f7]) {
      const { uc, ctl, entry } = setup(off, 10);
      uc.emuStart(entry, 0n);
      expect([off, ctl.insns]).toEqual([off, 2n + 30n + 1n]);
      uc.close();
    }
  });

  it('reads a map that ends mid-word without running past it', () => {
    const uc = engine();
    const off = 0x1f5;
    const { code, starts } = asm(LOOP(5));
    uc.memWrite(BASE + BigInt(off), code);
    const covered = off + code.length; // not a multiple of 8 or 64
    const map = allocInstructionMap(covered);
    expect(map.byteLength).toBe(Math.ceil(covered / 8));
    for (const s of starts) markInstruction(map, off + s);
    const ctl = new CpuCtl();
    ctl.setInstructionMap(map, BASE, BigInt(covered));
    ctl.attach(uc);
    uc.emuStart(BASE + BigInt(off), 0n);
    expect(ctl.insns).toBe(2n + 15n + 1n);
    expect(ctl.imapSize).toBe(BigInt(covered));
  });

  it('counts a block outside the map as one instruction', () => {
    const { uc, ctl, entry } = setup(0, 4);
    ctl.setInstructionMap(null);
    uc.emuStart(entry, 0n);
    // 5 blocks: the first, 3 loop heads, hlt
    expect([ctl.insns, ctl.blocks, ctl.unmapped]).toEqual([5n, 5n, 5n]);
  });

  it('several CPUs can share one map and each keep their own counts', () => {
    const mem = Buffer.alloc(SIZE);
    const map = allocInstructionMap(SIZE);
    const a = engine(mem);
    const b = engine(mem);
    const { entry } = load(a, LOOP(10), 0, map);
    const [ca, cb] = [new CpuCtl(), new CpuCtl()];
    for (const [uc, ctl] of [
      [a, ca],
      [b, cb],
    ] as const) {
      ctl.setInstructionMap(map, BASE);
      ctl.attach(uc);
    }
    ca.stopAt = 8n;
    a.emuStart(entry, 0n);
    b.emuStart(entry, 0n);
    expect([ca.insns, cb.insns]).toEqual([8n, 33n]);
  });
});

describe('interrupts and hlt', () => {
  it('int 0x80 stops with reason bit 1, intno 0x80 and RIP after the int', () => {
    const uc = engine();
    const ctl = new CpuCtl();
    ctl.attach(uc);
    const { entry, starts } = load(uc, 'mov eax, 1\nint 0x80\nmov eax, 2\nhlt');
    uc.emuStart(entry, 0n);
    expect(ctl.stopReason).toBe(KLP_STOP_INTR);
    expect(ctl.intno).toBe(0x80);
    expect(uc.regRead(RAX)).toBe(1n);
    expect(uc.regRead(RIP)).toBe(entry + BigInt(starts[2]));
    ctl.stopReason = 0;
    uc.emuStart(uc.regRead(RIP), 0n);
    expect([uc.regRead(RAX), ctl.stopReason]).toEqual([2n, 0]);
  });

  it('hlt returns from emuStart with RIP after the hlt', () => {
    const uc = engine();
    const { entry, starts } = load(uc, 'mov eax, 1\nhlt\nmov eax, 2\nhlt');
    uc.emuStart(entry, 0n);
    expect(uc.regRead(RIP)).toBe(entry + BigInt(starts[2]));
    uc.emuStart(uc.regRead(RIP), 0n);
    expect(uc.regRead(RAX)).toBe(2n);
  });

  it('CPU exceptions arrive in UC_HOOK_INTR too (#DE = 0)', () => {
    const uc = engine();
    const seen: number[] = [];
    uc.hookAdd(C.UC_HOOK_INTR, (u, intno) => {
      seen.push(intno);
      u.emuStop();
    });
    const { entry } = load(uc, 'xor ecx, ecx\nmov eax, 1\ndiv ecx\nhlt');
    uc.emuStart(entry, 0n);
    expect(seen).toEqual([0]);
  });
});

describe('JS hooks', () => {
  it('an exception thrown by a hook stops the run and is rethrown by emuStart', () => {
    const uc = engine();
    const { entry, starts } = load(uc, LOOP(100));
    const boom = new Error('boom');
    let calls = 0;
    const hook = uc.hookAdd(C.UC_HOOK_CODE, (_u, address) => {
      calls++;
      if (address === entry + BigInt(starts[4]) && calls > 20) throw boom;
    });
    expect(() => uc.emuStart(entry, 0n)).toThrow(boom);
    const rax = uc.regRead(RAX);
    expect(rax).toBeLessThan(100n);
    // the engine is still usable and the error is not thrown twice
    uc.hookDel(hook);
    uc.emuStart(uc.regRead(RIP), 0n);
    expect(uc.regRead(RAX)).toBe(100n);
  });

  it('code and block hooks get bigint addresses, also above 2^53', () => {
    const uc = Uc.open();
    open.push(uc);
    const high = 0xffff_ffff_8100_0000n;
    uc.memMap(high, 0x1000);
    uc.memWrite(high, asm('nop\nnop\nhlt').code);
    const code: bigint[] = [];
    const blocks: [bigint, number][] = [];
    uc.hookAdd(C.UC_HOOK_CODE, (_u, a) => void code.push(a));
    uc.hookAdd(C.UC_HOOK_BLOCK, (_u, a, size) => void blocks.push([a, size]));
    uc.emuStart(high, 0n);
    expect(code).toEqual([high, high + 1n, high + 2n]);
    expect(blocks).toEqual([[high, 3]]);
  });

  it('IN/OUT hooks (variadic instruction id) and invalid-instruction hooks', () => {
    const uc = engine();
    const out: [number, number, number][] = [];
    uc.hookAdd(C.UC_HOOK_INSN, (_u, port, size, value) => void out.push([port, size, value]), 1n, 0n, C.UC_X86_INS_OUT);
    uc.hookAdd(C.UC_HOOK_INSN, (_u, port, size) => (port === 0x3f8 && size === 1 ? 0x5a : 0), 1n, 0n, C.UC_X86_INS_IN);
    const { entry, starts } = load(uc, 'mov dx, 0x3f8\nmov al, 0x41\nout dx, al\nxor eax, eax\nin al, dx\nud2\nhlt');
    let invalid = 0;
    uc.hookAdd(C.UC_HOOK_INSN_INVALID, (u) => {
      invalid++;
      u.regWrite(RIP, entry + BigInt(starts[6])); // skip the ud2
      return true;
    });
    uc.emuStart(entry, 0n);
    expect(out).toEqual([[0x3f8, 1, 0x41]]);
    expect(uc.regRead(RAX)).toBe(0x5an);
    expect(invalid).toBe(1);
  });

  it('a memory fault hook can map the page and resume', () => {
    const uc = engine();
    const faults: bigint[] = [];
    uc.hookAdd(C.UC_HOOK_MEM_READ_UNMAPPED, (u, type, address) => {
      expect(type).toBe(C.UC_MEM_READ_UNMAPPED);
      faults.push(address);
      u.memMap(address & ~0xfffn, 0x1000);
      return true;
    });
    const { entry } = load(uc, 'mov rbx, 0x7000010\nmov rax, [rbx]\nhlt');
    uc.emuStart(entry, 0n);
    expect(faults).toEqual([0x700_0010n]);
    expect(uc.regRead(RAX)).toBe(0n);
  });

  it('hookDel removes a hook, also from inside itself', () => {
    const uc = engine();
    const { entry } = load(uc, LOOP(10));
    let n = 0;
    const h = uc.hookAdd(C.UC_HOOK_CODE, (u) => {
      if (++n === 3) u.hookDel(h);
    });
    uc.emuStart(entry, 0n);
    const after = n;
    uc.emuStart(entry, 0n);
    expect(n).toBe(after);
    expect(after).toBeGreaterThanOrEqual(3);
  });
});

describe('registers and contexts', () => {
  const GPRS = [
    C.UC_X86_REG_RAX,
    C.UC_X86_REG_RBX,
    C.UC_X86_REG_RCX,
    C.UC_X86_REG_RDX,
    C.UC_X86_REG_RSI,
    C.UC_X86_REG_RDI,
    C.UC_X86_REG_RBP,
    C.UC_X86_REG_RSP,
    C.UC_X86_REG_R8,
    C.UC_X86_REG_R9,
    C.UC_X86_REG_R10,
    C.UC_X86_REG_R11,
    C.UC_X86_REG_R12,
    C.UC_X86_REG_R13,
    C.UC_X86_REG_R14,
    C.UC_X86_REG_R15,
    C.UC_X86_REG_RIP,
    C.UC_X86_REG_FS_BASE,
    C.UC_X86_REG_GS_BASE,
    C.UC_X86_REG_CR2,
  ];

  it('batch write/read round-trips 20 registers, agreeing with single reads', () => {
    const uc = engine();
    const ids = Int32Array.from(GPRS);
    const values = BigUint64Array.from(GPRS, (_, i) => 0xffff_8000_0000_0000n + BigInt(i) * 0x1111n);
    uc.regWriteBatch(ids, values);
    const out = new BigUint64Array(ids.length);
    uc.regReadBatch(ids, out);
    expect(out).toEqual(values);
    expect(GPRS.map((id) => uc.regRead(id))).toEqual([...values]);
    uc.regWrite(C.UC_X86_REG_R9, 7n);
    uc.regReadBatch(ids, out); // same ids object: the native arrays are reused
    expect(out[9]).toBe(7n);
  });

  it('narrow registers read back without stale upper bytes', () => {
    const uc = engine();
    uc.regWrite(RAX, 0xffff_ffff_ffff_ffffn);
    expect(uc.regRead(C.UC_X86_REG_CS)).toBeLessThan(0x10000n); // selector is 2 bytes
    const ids = [C.UC_X86_REG_RAX, C.UC_X86_REG_SS, C.UC_X86_REG_EAX];
    const out = new BigUint64Array(3);
    uc.regReadBatch(ids, out);
    expect(out[0]).toBe(0xffff_ffff_ffff_ffffn);
    expect(out[1]).toBeLessThan(0x10000n);
    expect(out[2]).toBe(0xffff_ffffn);
  });

  it('GDTR/IDTR and MSRs', () => {
    const uc = engine();
    uc.regWriteMmr(C.UC_X86_REG_GDTR, { selector: 0, base: 0xffff_ffff_8200_0000n, limit: 0x7f, flags: 0 });
    expect(uc.regReadMmr(C.UC_X86_REG_GDTR)).toMatchObject({ base: 0xffff_ffff_8200_0000n, limit: 0x7f });
    uc.regWriteMmr(C.UC_X86_REG_IDTR, { selector: 0, base: 0xffff_ffff_8300_0000n, limit: 0xfff, flags: 0 });
    expect(uc.regReadMmr(C.UC_X86_REG_IDTR)).toMatchObject({ base: 0xffff_ffff_8300_0000n, limit: 0xfff });
    const LSTAR = 0xc000_0082;
    uc.msrWrite(LSTAR, 0xffff_ffff_8100_1234n);
    expect(uc.msrRead(LSTAR)).toBe(0xffff_ffff_8100_1234n);
    uc.msrWrite(0xc000_0101, 0xffff_8880_0000_0000n); // IA32_GS_BASE
    expect(uc.regRead(C.UC_X86_REG_GS_BASE)).toBe(0xffff_8880_0000_0000n);
  });

  it('context save/restore round-trips', () => {
    const uc = engine();
    const ids = Int32Array.from(GPRS.slice(0, 17));
    const a = BigUint64Array.from(ids, (_, i) => BigInt(i + 1));
    uc.regWriteBatch(ids, a);
    const ctx = uc.contextAlloc();
    expect(uc.contextSize()).toBeGreaterThan(4096);
    uc.contextSave(ctx);
    uc.regWriteBatch(ids, new BigUint64Array(ids.length).fill(0xdeadn));
    uc.contextRestore(ctx);
    const out = new BigUint64Array(ids.length);
    uc.regReadBatch(ids, out);
    expect(out).toEqual(a);
    uc.contextFree(ctx);
    uc.contextFree(ctx);
    expect(ctx.freed).toBe(true);
    expect(() => uc.contextRestore(ctx)).toThrow('freed');
  });
});
