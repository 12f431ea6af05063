// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the firmware build promises: every kernel C function starts with the 5-byte fentry NOP
 * and __mcount_loc lists exactly those sites, every kernel object carries ORC, the layout section
 * is complete, and a rebuild from the same sources gives the same bytes.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_IMAGE } from '../../src/kernel/boot.ts';
import { KernelImage } from '../../src/kernel/image.ts';
import { ElfFile, STT_FUNC } from '../../src/elf/index.ts';

const NOP5 = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/** Functions the sources mark notrace (ftrace's own code, the livepatch handler): no fentry site. */
function notraceFunctions(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? (n === 'build' ? [] : walk(p)) : n.endsWith('.c') ? [p] : [];
    });
  for (const f of walk('firmware')) {
    for (const m of readFileSync(f, 'utf8').matchAll(/^notrace\b[^(;]*?\b(\w+)\(/gm)) out.add(m[1]);
  }
  return out;
}

function objects(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? objects(p) : n.endsWith('.o') ? [p] : [];
  });
}

describe('firmware image', () => {
  const img = KernelImage.load(DEFAULT_IMAGE);
  const text = img.elf.section('.text')!;

  it('has an fentry NOP at every kernel C function, all listed in __mcount_loc', () => {
    const mcount = img.elf.section('__mcount_loc')!;
    const view = new DataView(mcount.data().buffer, mcount.data().byteOffset, mcount.size);
    const sites = new Set<bigint>();
    for (let i = 0; i < mcount.size; i += 8) sites.add(view.getBigUint64(i, true));
    const bytes = text.data();
    const at = (a: bigint) => [...bytes.subarray(Number(a - text.addr), Number(a - text.addr) + 5)];
    for (const s of sites) expect(at(s), `site 0x${s.toString(16)}`).toEqual(NOP5);
    // every C function (entry code is assembly, and so untyped or without a NOP)
    const notrace = notraceFunctions();
    const asm = new Set(['__switch_to_asm', 'ftrace_regs_caller']);
    const cfuncs = img.elf.symbols.filter(
      (s) =>
        s.type === STT_FUNC && s.value >= img.textStart && s.value < img.textEnd && s.size > 0 && !asm.has(s.name) && !notrace.has(s.name),
    );
    for (const s of img.elf.symbols.filter((s) => notrace.has(s.name)))
      expect(sites.has(s.value), `notrace ${s.name} has a site`).toBe(false);
    expect(cfuncs.length).toBeGreaterThan(100);
    for (const f of cfuncs) expect(sites.has(f.value), `${f.name} has no fentry site`).toBe(true);
    expect(sites.size).toBe(cfuncs.length);
  });

  it('carries ORC from objtool in every kernel object and in the image', () => {
    // (a module's NAME.mod.o holds its struct module only: no code, no ORC)
    for (const o of objects('firmware/build').filter((p) => !p.includes('/user/') && !p.endsWith('layout.o') && !p.endsWith('.mod.o'))) {
      const elf = ElfFile.read(o);
      expect(elf.section('.orc_unwind')?.size, o).toBeGreaterThan(0);
      expect(elf.section('.orc_unwind_ip')!.size / 4).toBe(elf.section('.orc_unwind')!.size / 6);
    }
    const orc = img.elf.section('.orc_unwind_ip')!;
    expect(orc.size / 4).toBeGreaterThan(1000);
  });

  it('describes its layout for the host', () => {
    const L = img.layout;
    expect(L.offset('task_struct', 'thread.sp')).toBeGreaterThan(0);
    expect(L.sizeof('pt_regs')).toBe(21 * 8);
    expect(L.constant('THREAD_SIZE')).toBe(16384);
    expect(() => L.offset('task_struct', 'no_such_field')).toThrow(/layout has no 'task_struct.no_such_field'/);
  });

  it('rebuilds reproducibly', () => {
    const out = mkdtempSync(join(tmpdir(), 'klp-fw-'));
    execFileSync('make', ['-s', '-C', 'firmware', `B=${out}/build`, `FIXTURES=${out}`], { stdio: 'pipe' });
    expect(Buffer.compare(readFileSync(join(out, 'kernel.elf')), readFileSync(DEFAULT_IMAGE))).toBe(0);
  }, 120_000);
});
