// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The klp-convert command (bin/klp-convert.mjs): IN.o [OUT.o], OUT defaulting to IN. The output
 * is written to a temporary file and renamed, so a failed conversion leaves OUT as it was. A bad
 * annotation or object is one line on stderr naming the file and the problem, exit status 1;
 * wrong usage exits with 2.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { ElfError, ElfFile, klpConvert } from '../elf/index.ts';

function main(args: readonly string[]): number {
  if (args.length < 1 || args.length > 2 || args.some((a) => a.startsWith('-'))) {
    process.stderr.write('usage: klp-convert IN.o [OUT.o]\n');
    return 2;
  }
  const [input, output = args[0]] = args;
  try {
    const result = klpConvert(ElfFile.read(input));
    const tmp = `${output}.klp-convert.tmp`;
    writeFileSync(tmp, result.bytes);
    renameSync(tmp, output);
    for (const s of result.sections) process.stdout.write(`klp-convert: ${output}: ${s.name}: ${s.relocations} relocation(s)\n`);
    return 0;
  } catch (e) {
    if (e instanceof ElfError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code) {
      process.stderr.write(`klp-convert: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = main(process.argv.slice(2));
