// SPDX-License-Identifier: GPL-2.0-or-later
// The CLI pieces: `stack TASK|CPU` output and the kallsyms-style symbolizer it uses.
import { describe, expect, it } from 'vitest';
import { useFileKernel } from '../helpers.ts';
import { parseStackTarget, stackReport, StackTargetError } from '../../src/cli/orc.ts';
import { imageSymbolizer } from '../../src/kernel/kallsyms.ts';
import { stackTraceSaveTskReliable } from '../../src/orc/unwind.ts';
import { OrcTable } from '../../src/orc/table.ts';
import { ElfFile } from '../../src/elf/index.ts';
import { ROOT } from './fixtures.ts';

// a kernel nobody gave an unwinder: the report makes its own
const kernel = useFileKernel({ cpus: 4, workload: 'default', seed: 2 }, (k) => k.runFor(400), { unwinder: false });

describe('stack report and symbolizer', () => {
  it('symbolizes kernel style: function+0xoff/0xsize, return addresses by their call, modules in brackets', () => {
    const k = kernel();
    const sym = imageSymbolizer(k.image.elf);
    const deepF = k.sym('deep_f');
    const deepE = k.sym('deep_e');
    const size = deepE > deepF ? deepE - deepF : undefined;
    expect(sym.symbolize(deepF + 3n)).toMatch(/^deep_f\+0x3\/0x[0-9a-f]+$/);
    if (size) expect(sym.symbolize(deepF)).toBe(`deep_f+0x0/0x${size.toString(16)}`);
    // untyped entry code has names too
    expect(sym.symbolize(k.sym('entry_INT80') + 2n)).toMatch(/^entry_INT80\+0x2\//);
    // a return address right after a function's last call resolves to the caller, printed +1
    expect(sym.symbolizeReturn(deepE)).toMatch(/^deep_f\+0x[0-9a-f]+\//);
    expect(sym.symbolize(0x1234n)).toBe('0x1234');
  });

  it("names a placed module's functions with the module in brackets", async () => {
    const k = kernel();
    const { SymbolTable, Symbolizer } = await import('../../src/kernel/kallsyms.ts');
    const obj = ElfFile.read(`${ROOT}firmware/build/workloads/targets.o`);
    const at = 0xffffffffa0000000n;
    const mod = SymbolTable.fromElf(obj, { module: 'targets', place: (s) => (s.name === '.text' ? at : undefined) });
    const s = new Symbolizer(SymbolTable.fromElf(k.image.elf), [mod]);
    const fn = obj.symbols.find((x) => x.type === 2 && x.section?.name === '.text')!;
    expect(s.symbolize(at + fn.value + 1n)).toMatch(new RegExp(`^${fn.name}\\+0x1/0x[0-9a-f]+ \\[targets\\]$`));
    // and its ORC table resolves the same addresses
    const t = OrcTable.fromObject(obj, (sec) => (sec.name === '.text' ? at : undefined), { name: 'targets' });
    expect(t.lookup(at + fn.value)).toBeDefined();
  });

  it("prints a task's trace, a cpu's current task, and refuses unknown targets", () => {
    const k = kernel();
    const deep = k.tasks().find((t) => t.comm.startsWith('kdeep'))!;
    const text = stackReport(k, { pid: deep.pid });
    expect(text).toMatch(new RegExp(`^task ${deep.comm} pid ${deep.pid} \\((switched out|running on cpu \\d)\\):\\n`));
    const trace = stackTraceSaveTskReliable(k, deep);
    if (trace.reliable) {
      expect(text).toMatch(/reliable stack trace, \d+ entries\nCall Trace:\n/);
      expect(text).toMatch(/ deep_a\+0x[0-9a-f]+\/0x[0-9a-f]+\n/);
      expect(text).toMatch(/ ret_from_fork\+/);
    }
    expect(stackReport(k, parseStackTarget('cpu0'))).toMatch(/^task \S+ pid \d+ \(/);
    expect(parseStackTarget('cpu:3')).toEqual({ cpu: 3 });
    expect(parseStackTarget('17')).toEqual({ pid: 17 });
    expect(parseStackTarget('kwaker')).toEqual({ comm: 'kwaker' });
    expect(() => stackReport(k, { pid: 99999 })).toThrow(StackTargetError);
    expect(() => stackReport(k, { cpu: 9 })).toThrow(/no cpu 9/);
  });

  it('reports why a trace is unreliable', () => {
    const k = kernel();
    const deep = k.tasks().find((t) => t.comm.startsWith('kdeep') && t.currentOn() < 0)!;
    const text = stackReport(k, deep, { maxEntries: 3 });
    expect(text).toMatch(/unreliable stack trace: too many frames, after 3 entries\nCall Trace:\n( \S+\n){3}$/);
  });
});
