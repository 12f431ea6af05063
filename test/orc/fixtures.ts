// SPDX-License-Identifier: GPL-2.0-or-later
// Paths and on-demand builds of the ORC test fixtures: the firmware's own objects and image
// (objtool 6.1) and the 6.4+ rebuild of test/orc/fixtures/Makefile (objtool 6.12).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OBJTOOL_61 = '/usr/lib/linux-kbuild-6.1/tools/objtool/objtool';
export const ORC64_IMAGE = `${ROOT}fixtures/kernel-orc64.elf`;
export const ORC64_OBJECTS = `${ROOT}build/orc64`;

let built: { objtool: string; image: string; objects: string } | null | undefined;

/**
 * Builds (make only redoes what changed) the 6.4+ fixture; null when Debian's linux-kbuild-6.12
 * cannot be had (no package index, no network), with the reason on stderr.
 */
export function ensureOrc64Fixture(): { objtool: string; image: string; objects: string } | null {
  if (built !== undefined) return built;
  try {
    execFileSync('make', ['-s', '-C', `${ROOT}test/orc/fixtures`], { stdio: ['ignore', 'ignore', 'pipe'] });
    built = { objtool: `${ORC64_OBJECTS}/objtool`, image: ORC64_IMAGE, objects: ORC64_OBJECTS };
    if (!existsSync(built.objtool)) {
      const installed = execFileSync('sh', ['-c', 'ls /usr/lib/linux-kbuild-6.12*/tools/objtool/objtool.real-x86 | tail -1'], {
        encoding: 'utf8',
      }).trim();
      built.objtool = installed;
    }
  } catch (e) {
    process.stderr.write(`orc64 fixture: ${(e as { stderr?: Buffer }).stderr?.toString() ?? String(e)}\n`);
    built = null;
  }
  return built;
}
