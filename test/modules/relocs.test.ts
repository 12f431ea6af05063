// SPDX-License-Identifier: GPL-2.0-or-later
// The loader's relocation arithmetic, checked two ways: GNU ld links the same objects at the
// addresses the loader chose and must produce the same bytes for every placed section, and each
// relocation type is recomputed by hand from S, A and P and read back from guest memory.
// Relocations compiled C does not produce here (R_X86_64_32, PC64, GOT forms) come from small
// assembled objects laid out directly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ElfFile } from '../../src/elf/index.ts';
import { R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_PC32, R_X86_64_PC64, R_X86_64_PLT32 } from '../../src/elf/constants.ts';
import {
  imageSymbolResolver,
  layoutModule,
  ModuleFormatError,
  RelocationOverflowError,
  UnresolvedSymbolError,
  UnsupportedRelocationError,
  type SymbolResolver,
} from '../../src/elf/module.ts';
import { assemble, fixture, linkLikeLoader, scratch, thrown, withModules } from './helpers.ts';

let tmp: ReturnType<typeof scratch>;
beforeAll(() => {
  tmp = scratch();
});
afterAll(() => tmp.done());

describe('relocations of real modules', () => {
  it('match GNU ld, section by section, at the loader’s addresses', async () => {
    await withModules({}, (_k, ms) => {
      for (const name of ['lab_mod_hello', 'lab_mod_reloc', 'lab_mod_user']) {
        const m = ms.load(fixture(name));
        const linked = linkLikeLoader(tmp.dir, fixture(name), m.layout);
        let compared = 0;
        for (const p of m.layout.sections) {
          const l = linked.get(p.section.index);
          if (!l) continue;
          expect(l.address, `${name} ${p.section.name}`).toBe(p.address);
          if (l.nobits) continue;
          expect(Buffer.from(p.bytes).toString('hex'), `${name} ${p.section.name}`).toBe(Buffer.from(l.bytes).toString('hex'));
          compared++;
        }
        // every placed section has a unique name in these objects, so every one was compared
        expect(compared).toBe(m.layout.sections.filter((s) => s.section.type !== 8).length);
        // the guest holds exactly the loader's bytes
        for (const p of m.layout.sections)
          expect(Buffer.from(_k.mem.bytes(p.address, p.bytes.length)).equals(Buffer.from(p.bytes))).toBe(true);
      }
    });
  });

  it('computes every type from S, A and P as the psABI says', async () => {
    await withModules({}, (k, ms) => {
      const m = ms.load(fixture('lab_mod_reloc'));
      const types = new Set(m.layout.relocations.map((r) => r.type));
      for (const t of [R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_32S]) expect(types.has(t)).toBe(true);
      for (const r of m.layout.relocations) {
        const sec = m.layout.sections.find((s) => s.section.index === r.section.index)!;
        const P = sec.address + r.offset;
        expect(r.place).toBe(P);
        // S: the bound import, or the module's own placed symbol
        const imp = m.layout.imports.get(r.symbol);
        if (imp) expect(r.symbolValue).toBe(imp.address);
        const got = r.width === 8 ? k.mem.u64(P) : BigInt(k.mem.u32(P));
        switch (r.type) {
          case R_X86_64_64:
            expect(got).toBe(BigInt.asUintN(64, r.symbolValue + r.addend));
            break;
          case R_X86_64_PC32:
          case R_X86_64_PLT32:
            expect(BigInt.asIntN(32, got)).toBe(BigInt.asIntN(64, r.symbolValue + r.addend - P));
            break;
          case R_X86_64_32S:
            // the CPU sign-extends the field back to the full address
            expect(BigInt.asUintN(64, BigInt.asIntN(32, got))).toBe(BigInt.asUintN(64, r.symbolValue + r.addend));
            break;
          default:
            throw new Error(`unexpected ${r.typeName}`);
        }
      }
      // a few by name, against the image's symbols
      const at = (sym: string, off: bigint) => m.findSymbol(sym) + off;
      const pc32 = m.layout.relocations.find((r) => r.symbol === 'jiffies' && r.type === R_X86_64_PC32)!;
      expect(pc32.place).toBe(at('lab_reloc_jiffies', pc32.offset));
      expect(BigInt(k.mem.s32(pc32.place))).toBe(k.sym('jiffies') - 4n - pc32.place);
      const plt = m.layout.relocations.find((r) => r.symbol === 'emit' && r.type === R_X86_64_PLT32)!;
      expect(BigInt(k.mem.s32(plt.place))).toBe(k.sym('emit') - 4n - plt.place);
      const s32 = m.layout.relocations.find((r) => r.symbol === 'process_timeout' && r.type === R_X86_64_32S)!;
      expect(BigInt.asUintN(64, BigInt(k.mem.s32(s32.place)))).toBe(k.sym('process_timeout'));
      // the ORC ip table is PC32 too: slot + value = the covered address
      const orcIp = m.layout.sections.find((s) => s.section.name === '.orc_unwind_ip')!;
      expect(orcIp.address + BigInt(k.mem.s32(orcIp.address))).toBe(m.findSymbol('op_add'));
    });
  });

  it('exposes __mcount_loc as placed fentry sites, each a 5-byte NOP at a function start', async () => {
    await withModules({}, (k, ms) => {
      const m = ms.load(fixture('lab_mod_reloc'));
      // one site per function: init_module is an alias of the init function, not a function of its own
      const funcs = m.elf.symbols.filter((s) => s.type === 2 && s.section && s.name !== 'init_module' && s.name !== 'cleanup_module');
      expect(m.mcountLoc.length).toBe(funcs.length);
      expect(m.mcountTable.length).toBe(8 * funcs.length);
      for (const ip of m.mcountLoc) {
        expect(Buffer.from(k.mem.bytes(ip, 5)).toString('hex')).toBe('0f1f440000');
        expect(m.functionAt(ip)?.address).toBe(ip);
      }
      expect(new Set(m.mcountLoc.map((ip) => m.functionAt(ip)!.name))).toEqual(new Set(funcs.map((f) => f.name)));
      // placement of the sections, for readers of the object's own relocations
      const text = m.elf.section('.text.op_add')!;
      expect(m.placement(text)).toBe(m.findSymbol('op_add'));
      expect(m.sectionAddress('__mcount_loc')).toBe(m.layout.sections.find((s) => s.section.name === '__mcount_loc')!.address);
    });
  });
});

describe('relocations of assembled objects', () => {
  const BASE = 0xffffffff84000000n;
  const table: Record<string, bigint> = {
    small_sym: 0x1234n,
    big_sym: 0xffffffff81000000n,
    low_sym: 0x1000n,
    far_sym: 0x700000000000n,
  };
  const resolve: SymbolResolver = (name) => (name in table ? [{ name, address: table[name], owner: 'vmlinux', local: false }] : []);

  it('applies R_X86_64_32, 32S, PC32, PC64 and 64 like ld', () => {
    const obj = assemble(
      tmp.dir,
      'types',
      `
	.section .text.f, "ax"
	.globl f
	.type f, @function
f:	movl $small_sym, %eax
	movq $big_sym, %rax
	call big_sym
	ret
	.size f, . - f
	.section .rodata.t, "a"
	.long small_sym + 8
	.long big_sym - .
	.quad big_sym - .
	.quad f + 3
	.long local_data - .
	.section .data.d, "aw"
local_data:
	.quad small_sym
	.section .note.GNU-stack, "", @progbits
`,
    );
    const elf = ElfFile.read(obj);
    const layout = layoutModule(elf, { base: BASE, resolve });
    const types = new Set(layout.relocations.map((r) => r.type));
    for (const t of [R_X86_64_32, R_X86_64_32S, R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_PC64, R_X86_64_64]) expect(types.has(t)).toBe(true);
    const linked = linkLikeLoader(tmp.dir, obj, layout);
    for (const p of layout.sections) {
      const l = linked.get(p.section.index)!;
      expect(l.address).toBe(p.address);
      expect(Buffer.from(p.bytes).toString('hex'), p.section.name).toBe(Buffer.from(l.bytes).toString('hex'));
    }
    const ro = layout.sections.find((s) => s.section.name === '.rodata.t')!;
    const v = new DataView(ro.bytes.buffer, ro.bytes.byteOffset);
    expect(v.getUint32(0, true)).toBe(0x123c);
    expect(BigInt(v.getInt32(4, true))).toBe(table.big_sym - (ro.address + 4n));
    expect(BigInt.asIntN(64, v.getBigUint64(8, true))).toBe(table.big_sym - (ro.address + 8n));
    expect(v.getBigUint64(16, true)).toBe(layout.symbolAddress(elf.findSymbol('f'))! + 3n);
  });

  it('rejects a zero-extended R_X86_64_32 of a kernel address, naming value and range', () => {
    const obj = assemble(tmp.dir, 'ovf32', '.section .rodata.x, "a"\n\t.long 0\n\t.long big_sym\n');
    const e = thrown(() => layoutModule(ElfFile.read(obj), { base: BASE, resolve }));
    expect(e).toBeInstanceOf(RelocationOverflowError);
    expect(e.message).toBe(
      `${obj}: section [4] .rodata.x+0x4: R_X86_64_32 against 'big_sym': value 0xffffffff81000000 does not fit: ` +
        'the field holds [0x0, 0xffffffff] (relocation overflow) (-ENOEXEC)',
    );
  });

  it('rejects a PC32 more than 2 GiB away, and accepts one that wraps around the address space', () => {
    // 0x1000 is 2 GiB + a bit below the top of the address space: rip-relative wraps, so it is in reach
    const near = assemble(tmp.dir, 'wrap', '.text\n\tnop\n\tcall low_sym\n');
    const ok = layoutModule(ElfFile.read(near), { base: BASE, resolve });
    expect(ok.relocations[0].value).toBe(BigInt.asIntN(64, 0x1000n - 4n - (BASE + 2n)));
    expect(ok.relocations[0].value).toBe(0x7c000ffan);

    const obj = assemble(tmp.dir, 'ovfpc', '.text\n\tnop\n\tcall far_sym\n');
    const e = thrown(() => layoutModule(ElfFile.read(obj), { base: BASE, resolve })) as RelocationOverflowError;
    expect(e).toBeInstanceOf(RelocationOverflowError);
    expect(e.value).toBe(BigInt.asIntN(64, 0x700000000000n - 4n - (BASE + 2n)));
    expect(e.message).toBe(
      `${obj}: section [1] .text+0x2: R_X86_64_PLT32 against 'far_sym' - 0x4: value 0x70007bfffffa does not fit: ` +
        'the field holds [-0x80000000, 0x7fffffff] (relocation overflow) (-ENOEXEC)',
    );
  });

  it('names relocation types it does not apply', () => {
    const obj = assemble(tmp.dir, 'got', '.text\n\tmovq big_sym@GOTPCREL(%rip), %rax\n\tret\n');
    const e = thrown(() => layoutModule(ElfFile.read(obj), { base: BASE, resolve }));
    expect(e).toBeInstanceOf(UnsupportedRelocationError);
    expect(e.message).toMatch(/section \[1\] \.text\+0x3: R_X86_64_REX_GOTPCRELX against 'big_sym' - 0x4: unsupported relocation type 42/);
  });

  it('refuses relocations into sections it does not load, and fields already relocated', () => {
    const obj = assemble(tmp.dir, 'discard', '.section .discard.x, "a"\nd:\t.byte 0\n.text\n\t.quad d\n');
    const e = thrown(() => layoutModule(ElfFile.read(obj), { base: BASE, resolve }));
    expect(e).toBeInstanceOf(ModuleFormatError);
    expect(e.message).toMatch(
      /section \[1\] \.text\+0x0: relocation against '\.discard\.x', defined in section \[\d+\] \.discard\.x, which is not loaded/,
    );

    const twice = assemble(tmp.dir, 'twice', '.text\n\t.quad big_sym\n');
    const bytes = new Uint8Array(readFileSync(twice));
    const elf0 = ElfFile.parse(bytes, twice);
    bytes[elf0.section('.text')!.offset] = 0x90; // a non-zero field
    const e2 = thrown(() => layoutModule(ElfFile.parse(bytes, twice), { base: BASE, resolve }));
    expect(e2.message).toContain("section [1] .text+0x0: R_X86_64_64 against 'big_sym': the field holds 0x90, not 0 (relocated twice?)");
  });

  it('refuses a name the image defines twice, listing the candidates', () => {
    const a = assemble(tmp.dir, 'img_a', '.text\n.globl first\nfirst:\tret\ndup:\tret\n.type dup, @function\n.size dup, 1\n');
    const b = assemble(tmp.dir, 'img_b', '.text\ndup:\tnop\n\tret\n.type dup, @function\n.size dup, 2\n');
    const image = join(tmp.dir, 'image.elf');
    execFileSync('ld', ['-Ttext=0xffffffff81000000', '-e', 'first', '-o', image, a, b]);
    const obj = assemble(tmp.dir, 'usesdup', '.text\n\tcall dup\n\tret\n');
    const e = thrown(() => layoutModule(ElfFile.read(obj), { base: BASE, resolve: imageSymbolResolver(ElfFile.read(image)) }));
    expect(e).toBeInstanceOf(UnresolvedSymbolError);
    expect((e as UnresolvedSymbolError).reason).toBe('ambiguous');
    expect(e.message).toBe(
      `${obj}: section [1] .text+0x1: symbol 'dup' is ambiguous: 2 candidates at ` +
        '0xffffffff81000001 (vmlinux, local), 0xffffffff81000002 (vmlinux, local) (-EINVAL)',
    );
  });
});
