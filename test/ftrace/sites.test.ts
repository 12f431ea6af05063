// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fentry sites: every entry of the image's __mcount_loc is the 5-byte NOP at the start of a C
 * function; ftraceLocation() finds a function's site and nothing for assembly or notrace code;
 * a module object compiled like the firmware's modules yields its sites from __mcount_loc's
 * relocations once its sections are placed, the same as from its relocated table.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { KernelImage } from '../../src/kernel/image.ts';
import { DEFAULT_IMAGE } from '../../src/kernel/boot.ts';
import { SHF_ALLOC, type ElfFile, type ElfSection } from '../../src/elf/index.ts';
import { compileModule } from './helpers.ts';
import {
  FENTRY_NOP,
  FtraceError,
  FtraceSites,
  describeSite,
  imageFtraceSites,
  mcountTableSites,
  moduleFtraceSites,
} from '../../src/ftrace/index.ts';

let image: KernelImage;
let sites: FtraceSites;
beforeAll(() => {
  image = KernelImage.load(DEFAULT_IMAGE);
  sites = new FtraceSites(imageFtraceSites(image));
});

function textBytes(addr: bigint, n: number): Uint8Array {
  const sec = image.elf.sections.find((s) => s.addr <= addr && addr + BigInt(n) <= s.addr + BigInt(s.size) && s.size > 0)!;
  return sec.data().subarray(Number(addr - sec.addr), Number(addr - sec.addr) + n);
}

describe('image sites', () => {
  it('are the __mcount_loc entries, each a fentry NOP at the start of a C function', () => {
    const count = (image.symbol('__stop_mcount_loc') - image.symbol('__start_mcount_loc')) / 8n;
    expect(sites.size).toBe(Number(count));
    expect(sites.size).toBeGreaterThan(50);
    for (const s of sites) {
      expect([...textBytes(s.ip, 5)], describeSite(s)).toEqual([...FENTRY_NOP]);
      expect(s.ip).toBe(s.funcAddr); // -mfentry, no endbr: the site is the function's first instruction
      expect(s.ip >= image.textStart && s.ip < image.textEnd).toBe(true);
      expect(s.owner).toBe('vmlinux');
    }
  });

  it('ftraceLocation finds a function by its address, and nothing else', () => {
    const probe = image.symbol('lab_probe');
    expect(sites.location(probe)).toBe(probe);
    expect(sites.ofFunction(probe)?.func).toBe('lab_probe');
    expect(describeSite(sites.at(probe)!)).toMatch(/^lab_probe\+0x0\/0x[0-9a-f]+$/);
    expect(sites.location(probe + 1n)).toBeUndefined();
    expect(sites.location(probe + 5n)).toBeUndefined();
    // assembly and notrace code: no site
    for (const name of [
      'ftrace_regs_caller',
      '__switch_to_asm',
      '_start',
      'irq_entries_start',
      'ftrace_ops_list_func',
      'ftrace_test_handler',
    ])
      expect(sites.location(image.symbol(name)), name).toBeUndefined();
    // functions the tests trace have one
    for (const name of ['lab_probe_alt', 'crunch', 'crunch_step', 'schedule'])
      expect(sites.location(image.symbol(name)), name).toBe(image.symbol(name));
  });
});

const MODULE_SOURCE = `
int ext_helper(int);
static int __attribute__((noinline)) helper(int x) { return ext_helper(x) + 1; }
int mod_fn(int x) { return helper(x) * 2; }
int mod_fn2(int x) { return x + 7; }
static int __attribute__((no_instrument_function)) mod_notrace(int x) { return x; }
int (*keep)(int) = mod_notrace;
`;
describe('module sites', () => {
  let elf: ElfFile;
  beforeAll(() => {
    elf = compileModule(MODULE_SOURCE);
  });

  /** Places every allocated section one page apart from 0xffffffffa0000000. */
  function placeAll(): Map<ElfSection, bigint> {
    const at = new Map<ElfSection, bigint>();
    let next = 0xffffffffa0000000n;
    for (const s of elf.sections)
      if ((s.flags & SHF_ALLOC) !== 0n) {
        at.set(s, next);
        next += 0x1000n;
      }
    return at;
  }

  it('come from __mcount_loc relocations and the placed sections', () => {
    const at = placeAll();
    const got = moduleFtraceSites('mod', elf, (s) => at.get(s));
    const textOf = (fn: string) => at.get(elf.section(`.text.${fn}`)!)!;
    expect(got.map((s) => [s.func, s.ip, s.owner])).toEqual(['helper', 'mod_fn', 'mod_fn2'].map((fn) => [fn, textOf(fn), 'mod']));
    expect(got.every((s) => s.funcAddr === s.ip && s.funcSize > 5)).toBe(true);

    // the same sites from a __mcount_loc the loader relocated itself
    const table = new Uint8Array(8 * got.length);
    got.forEach((s, i) => new DataView(table.buffer).setBigUint64(8 * i, s.ip, true));
    const byAddr = (a: bigint) => {
      const s = got.find((x) => x.funcAddr === a);
      return s && { name: s.func, address: s.funcAddr, size: s.funcSize };
    };
    expect(mcountTableSites('mod', table, byAddr)).toEqual(got);

    // joined to the image's sites, then gone again
    const all = new FtraceSites(imageFtraceSites(image));
    all.add('mod', got);
    expect(all.location(textOf('mod_fn'))).toBe(textOf('mod_fn'));
    expect(all.location(textOf('mod_notrace'))).toBeUndefined();
    expect(() => all.add('mod', got)).toThrow(FtraceError);
    expect(all.remove('mod')).toHaveLength(3);
    expect(all.location(textOf('mod_fn'))).toBeUndefined();
    expect(all.size).toBe(sites.size);
  });

  it('refuses a section left unplaced, naming the entry', () => {
    const at = placeAll();
    at.delete(elf.section('.text.mod_fn2')!);
    const err = (() => {
      try {
        moduleFtraceSites('mod', elf, (s) => at.get(s));
      } catch (e) {
        return e;
      }
    })() as FtraceError;
    expect(err).toBeInstanceOf(FtraceError);
    expect(err.errno).toBe('EINVAL');
    expect(err.message).toMatch(/mod: __mcount_loc entry 2 refers to '\.text\.mod_fn2', which is not placed/);
  });

  it('refuses a table entry outside every function', () => {
    const table = new Uint8Array(8);
    new DataView(table.buffer).setBigUint64(0, 0xffffffffa0000123n, true);
    expect(() => mcountTableSites('mod', table, () => undefined)).toThrow(/entry 0 0xffffffffa0000123 is not inside a function/);
    expect(() => mcountTableSites('mod', new Uint8Array(12), () => undefined)).toThrow(/not a multiple of 8/);
  });
});
