// SPDX-License-Identifier: GPL-2.0-or-later
// Replays one variant of the fuzz test and shows what each stage does with it:
//   npx tsx test/fuzz/replay.ts fixtures/test_klp_livepatch.ko overlap 1056057
import { readFileSync } from 'node:fs';
import { ElfFile } from '../../src/elf/index.ts';
import { bootKernel } from '../../src/kernel/boot.ts';
import { assembleModules, withUnwinder } from '../../src/lab/lab.ts';
import { dumpOrc } from '../../src/orc/dump.ts';
import { anatomy, mutate, type Strategy } from './mutate.ts';

const [path, strategy, seed] = process.argv.slice(2);
const a = anatomy(new Uint8Array(readFileSync(path)), path);
const v = mutate(a, strategy as Strategy, Number(seed));
console.log(`variant: ${v.what}`);
const name = path.split('/').pop()!;
const show = (stage: string, fn: () => unknown) => {
  try {
    fn();
    console.log(`${stage}: ok`);
  } catch (e) {
    console.log(`${stage}:`, e);
  }
};
show('elf', () => {
  const elf = ElfFile.parse(v.bytes, name);
  void elf.symbols;
  elf.relocations();
});
show('orc dump', () => dumpOrc(ElfFile.parse(v.bytes, name)));
const k = await bootKernel({ cpus: 1, workload: 'idle', seed: 1 });
try {
  k.runFor(10);
  const ms = assembleModules(k, withUnwinder(k));
  ms.onComing(() => -22);
  show('load', () => ms.load(ElfFile.parse(v.bytes, name)));
} finally {
  k.close();
}
