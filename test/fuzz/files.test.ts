// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzing the file readers: over 20,000 seeded variants of the firmware image, a livepatch module
 * and a target module (bit flips, truncation, ELF and section header fields, huge sizes and
 * offsets, overlapping ranges, symbol, relocation and ORC entries) go through the ELF reader, the
 * ORC reader and dump, and the module loader of one booted lab. Only typed errors may come out,
 * no variant may take long, memory stays bounded, and guest memory is unchanged after every
 * refused or taken-back load. The loop runs in a worker with a heap cap and a time limit, so a
 * variant that exhausts memory or hangs fails the test with its seed instead of the runner.
 *
 * A failing variant replays with: npx tsx test/fuzz/replay.ts FILE STRATEGY SEED
 */
import { describe, expect, it } from 'vitest';
import { runBounded } from '../bounded/bounded.ts';
import type { FuzzArgs, FuzzReport } from './files-worker.ts';
import { STRATEGIES } from './mutate.ts';

const FILES = [
  // the image costs most per variant (a 2,300-entry ORC table sorted and dumped each time)
  { path: 'fixtures/kernel.elf', variants: 1_400 },
  { path: 'fixtures/test_klp_livepatch.ko', variants: 9_300 },
  { path: 'fixtures/test_klp_mod_target.ko', variants: 9_300 },
];

describe('fuzzing the ELF reader, the ORC reader and the module loader', () => {
  it('20,000 mutated files: typed errors only, no hang, bounded memory, guest memory untouched', async () => {
    const args: FuzzArgs = { seed: 1, files: FILES, variantMs: 5_000, checkEvery: 500, memoryMb: 512 };
    const out = await runBounded<FuzzReport>(new URL('./files-worker.ts', import.meta.url), 'fuzz', args, {
      maxOldGenerationSizeMb: 512,
      timeoutMs: 150_000,
    });
    if (out.kind !== 'ok') {
      const [variant, file, seed] = out.progress;
      throw new Error(
        `fuzz worker: ${out.kind}: ${out.message}\n  at variant ${variant} of ${FILES[file]?.path} (seed ${seed}, strategy ${STRATEGIES[variant % STRATEGIES.length]}?)` +
          `${out.kind === 'threw' ? `\n${out.stack ?? ''}` : ''}`,
      );
    }
    const r = out.result;
    const report = r.defects.map((d) => `${d.file} ${d.strategy} ${d.seed} [${d.what}] at ${d.stage}: ${d.error}`).join('\n');
    expect(r.defects, `defects (replay: npx tsx test/fuzz/replay.ts FILE STRATEGY SEED):\n${report}`).toEqual([]);
    expect(r.variants).toBeGreaterThanOrEqual(20_000);
    // every kind of mutation for every file, and variants that reach every stage
    for (const f of FILES) {
      const name = f.path.split('/').pop()!;
      for (const s of STRATEGIES) expect(r.counts[name][s], `${name} ${s}`).toBeGreaterThan(f.variants / STRATEGIES.length - 2);
      expect(r.outcomes[`${name} elf-refused`], name).toBeGreaterThan(0);
      expect(r.outcomes[`${name} orc-ok`], name).toBeGreaterThan(0);
      expect(r.outcomes[`${name} orc-refused`], name).toBeGreaterThan(0);
      expect(r.outcomes[`${name} load-refused`], name).toBeGreaterThan(0);
    }
    expect(r.outcomes['test_klp_livepatch.ko loaded']).toBeGreaterThan(0);
    expect(r.outcomes['test_klp_mod_target.ko loaded']).toBeGreaterThan(0);
    expect(r.ramChecks).toBeGreaterThanOrEqual(40);
  }, 180_000);
});
