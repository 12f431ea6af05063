// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fuzz loop, run by files.test.ts in a heap-capped worker: mutated variants of the firmware
 * image, a livepatch module and a target module go through the ELF reader, the ORC reader
 * (layout detection, entries, lookup table, `orc dump`, the symbolizer) and the module loader
 * of one booted lab. Only typed errors may come out; anything else is a defect, reported with
 * the variant's file, strategy and seed so it replays with mutate().
 */
import { readFileSync } from 'node:fs';
import { ElfError, ElfFile, type ElfSection } from '../../src/elf/index.ts';
import { ET_EXEC, ET_REL } from '../../src/elf/constants.ts';
import { ModuleError, ModuleFormatError } from '../../src/elf/module.ts';
import { bootKernel } from '../../src/kernel/boot.ts';
import { assembleModules, withUnwinder } from '../../src/lab/lab.ts';
import { dumpOrc } from '../../src/orc/dump.ts';
import { SymbolTable } from '../../src/kernel/kallsyms.ts';
import { detectLayout, OrcTable, OrcTableError } from '../../src/orc/table.ts';
import { anatomy, mutate, STRATEGIES, type Strategy } from './mutate.ts';

export interface FuzzFile {
  /** Fixture path relative to the repository. */
  readonly path: string;
  readonly variants: number;
}

export interface FuzzArgs {
  readonly seed: number;
  readonly files: readonly FuzzFile[];
  /** A variant slower than this is a defect (a hang in the making). */
  readonly variantMs: number;
  /** How often guest memory is checked against its state after boot. */
  readonly checkEvery: number;
  /** Heap and buffers may grow by this much over what the booted lab uses (checked every 50 variants). */
  readonly memoryMb: number;
}

export interface Defect {
  readonly file: string;
  readonly strategy: Strategy;
  readonly seed: number;
  readonly what: string;
  readonly stage: string;
  readonly error: string;
}

export interface FuzzReport {
  readonly variants: number;
  /** Variants per file and strategy, and how each ended, for the test to check the mix. */
  readonly counts: Record<string, Record<string, number>>;
  readonly outcomes: Record<string, number>;
  readonly defects: readonly Defect[];
  readonly slowest: { ms: number; file: string; seed: number; what: string };
  readonly ramChecks: number;
  /** Heap and array buffers, at the start and at the highest sample. */
  readonly baseMb: number;
  readonly peakMb: number;
}

const ROOT = new URL('../../', import.meta.url);

/** Whether an error is one the readers and the loader throw on purpose, all the way down its causes. */
function typed(e: unknown): boolean {
  if (e instanceof ModuleError) {
    // the loader wraps what escaped a load; what it wrapped must have been typed too
    if (e instanceof ModuleFormatError && e.cause !== undefined) return typed(e.cause);
    return true;
  }
  return e instanceof ElfError || e instanceof OrcTableError;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  let s = `${e.name}: ${e.message}`;
  if (e.cause) s += ` <- ${describe(e.cause)}`;
  else if (!typed(e)) s += `\n${e.stack?.split('\n').slice(1, 6).join('\n')}`;
  return s;
}

export async function fuzz(args: FuzzArgs, progress: Int32Array): Promise<FuzzReport> {
  const k = await bootKernel({ cpus: 1, workload: 'idle', seed: args.seed });
  try {
    k.runFor(10);
    const ms = assembleModules(k, withUnwinder(k));
    // A variant that loads all the way is refused by a COMING notifier: the whole host side and
    // the commit run, the module's init (guest code) does not, and it is all taken back.
    ms.onComing(() => -22);
    // a copy to compare with: a byte compare of the 64 MiB is a few ms, a hash of it 100
    const pristine = Buffer.from(k.mem.buffer);
    const ramChanged = () => Buffer.compare(k.mem.buffer, pristine) !== 0;
    let ramChecks = 0;
    const free = k.hostMem.bytesFree;
    const m0 = process.memoryUsage();
    const baseMb = Math.round((m0.heapUsed + m0.arrayBuffers) / 2 ** 20);
    let peakMb = baseMb;

    const files = args.files.map((f) => {
      const bytes = new Uint8Array(readFileSync(new URL(f.path, ROOT)));
      return { ...f, name: f.path.split('/').pop()!, a: anatomy(bytes, f.path) };
    });
    // interleave the files in proportion to their counts
    const schedule: number[] = [];
    const left = files.map((f) => f.variants);
    const total = left.reduce((x, y) => x + y, 0);
    for (let i = 0; i < total; i++) {
      let best = 0;
      for (let j = 1; j < files.length; j++) if (left[j] / files[j].variants > left[best] / files[best].variants) best = j;
      schedule.push(best);
      left[best]--;
    }

    const counts: Record<string, Record<string, number>> = {};
    const outcomes: Record<string, number> = {};
    const defects: Defect[] = [];
    let slowest = { ms: 0, file: '', seed: 0, what: '' };
    const seen = files.map(() => 0);

    for (let i = 0; i < total; i++) {
      const fi = schedule[i];
      const f = files[fi];
      const n = seen[fi]++;
      const strategy = STRATEGIES[n % STRATEGIES.length];
      const seed = args.seed * 0x100000 + i;
      progress[0] = i;
      progress[1] = fi;
      progress[2] = seed;
      const t0 = performance.now();
      const v = mutate(f.a, strategy, seed);
      (counts[f.name] ??= {})[strategy] = (counts[f.name][strategy] ?? 0) + 1;
      let stage = 'elf';
      const outcome = (what: string) => (outcomes[`${f.name} ${what}`] = (outcomes[`${f.name} ${what}`] ?? 0) + 1);
      try {
        const elf = ElfFile.parse(v.bytes, f.name);
        void elf.segments.length;
        const symbols = elf.symbols;
        elf.relocations();
        for (let j = 0; j < symbols.length; j += 7) {
          elf.symbolsNamed(symbols[j].name);
          elf.symbolAt(symbols[j].value, symbols[j].section);
        }
        stage = 'orc';
        try {
          const layout = detectLayout(elf);
          dumpOrc(elf, layout);
          if (elf.type === ET_EXEC) {
            const t = OrcTable.fromImage(elf, { layout });
            for (let off = 0; off < t.size; off += 251) t.lookup(t.base + BigInt(off));
            SymbolTable.fromElf(elf);
          } else if (elf.type === ET_REL) {
            // placed one after the other from a module-like base, as a loader would
            const at = new Map<ElfSection, bigint>();
            let next = 0xffffffffc0000000n;
            for (const s of elf.sections) {
              at.set(s, next);
              next += BigInt(Math.min(s.size, 1 << 16) + 16) & ~15n;
            }
            const t = OrcTable.fromObject(elf, (s) => at.get(s));
            for (let off = 0; off < t.size; off += 31) t.lookup(t.base + BigInt(off));
            // (the loader below builds the module's symbol table itself)
          }
          outcome('orc-ok');
        } catch (e) {
          if (!typed(e)) throw e;
          outcome('orc-refused');
        }
        stage = 'load';
        try {
          ms.load(elf);
          throw new Error('the COMING notifier did not refuse the module');
        } catch (e) {
          if (!typed(e)) throw e;
          outcome(e instanceof ModuleError && e.message.includes('COMING notifier refused') ? 'loaded' : 'load-refused');
        }
      } catch (e) {
        if (!typed(e)) {
          if (defects.length < 50) defects.push({ file: f.path, strategy, seed, what: v.what, stage, error: describe(e) });
        } else outcome(`${stage}-refused`);
      }
      const ms_ = performance.now() - t0;
      if (ms_ > slowest.ms) slowest = { ms: ms_, file: f.path, seed, what: v.what };
      if (ms_ > args.variantMs && defects.length < 50)
        defects.push({ file: f.path, strategy, seed, what: v.what, stage: 'time', error: `took ${ms_.toFixed(0)} ms` });
      // every variant: no module left behind, no host memory kept; every checkEvery: no guest byte changed
      if (ms.list().length || k.hostMem.bytesFree !== free) {
        defects.push({
          file: f.path,
          strategy,
          seed,
          what: v.what,
          stage: 'leak',
          error: `${ms.list().length} modules listed, ${free - k.hostMem.bytesFree} bytes of host memory kept`,
        });
        break;
      }
      if ((i + 1) % 50 === 0) {
        const m = process.memoryUsage();
        const mb = Math.round((m.heapUsed + m.arrayBuffers) / 2 ** 20);
        peakMb = Math.max(peakMb, mb);
        if (mb > baseMb + args.memoryMb) {
          defects.push({
            file: f.path,
            strategy,
            seed,
            what: v.what,
            stage: 'memory',
            error: `${mb} MiB in use after the last 50 variants (${baseMb} MiB at the start)`,
          });
          break;
        }
      }
      if ((i + 1) % args.checkEvery === 0 || i === total - 1) {
        ramChecks++;
        if (ramChanged()) {
          defects.push({
            file: f.path,
            strategy,
            seed,
            what: v.what,
            stage: 'ram',
            error: `guest memory changed by one of the last ${args.checkEvery} variants`,
          });
          break;
        }
      }
    }
    return { variants: total, counts, outcomes, defects, slowest, ramChecks, baseMb, peakMb };
  } finally {
    k.close();
  }
}
