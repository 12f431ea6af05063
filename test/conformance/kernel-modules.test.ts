// SPDX-License-Identifier: GPL-2.0-or-later
// The kernel's own livepatch test modules as a conformance suite (issue: "Linux's own
// livepatch modules, unmodified"): Debian's linux-source-6.1 and -6.12 are fetched into the
// cache on first use, their test modules built by `make -C firmware M=DIR` with no warning, and
// every selftest scenario of the lab runs with them loaded where the kernel has a module of
// that name -- with the same result as with the lab's own modules. A failed fetch or build fails
// these tests with its message; nothing is skipped.
import { basename } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_VERSIONS, kernelTestModules, type KernelTestModules } from '../../src/lab/index.ts';
import { SELFTESTS, runSelftest } from '../../src/lab/selftests/index.ts';

for (const version of KERNEL_VERSIONS) {
  describe(`Linux ${version}'s livepatch test modules`, () => {
    let built: KernelTestModules;
    const used = new Set<string>();

    beforeAll(() => {
      built = kernelTestModules(version);
    }, 900_000);

    it('all build for the lab, one .ko for each module of the Makefile', () => {
      expect(built.names.length).toBeGreaterThanOrEqual(10);
      expect(built.names).toContain('test_klp_livepatch');
      expect(built.names.includes('test_klp_syscall')).toBe(version !== '6.1');
    });

    for (const t of SELFTESTS)
      it(`${t.suite}: ${t.name}`, async () => {
        const from = await runSelftest(t, { modulePath: [built.dir] });
        // The kernel's build, not the fixtures, for every module the kernel has.
        for (const [name, file] of from) {
          if (built.names.includes(name)) {
            expect(file.startsWith(built.dir), `${name} from ${file}`).toBe(true);
            used.add(name);
          } else expect(basename(file)).toMatch(new RegExp(`^${name}\\.(ko|o)$`));
        }
      }, 120_000);

    it('every one of the modules was loaded by some scenario', () => {
      // test_klp_state2.c is test_klp_state.c with another version number: its own module
      expect(built.names.filter((n) => !used.has(n))).toEqual([]);
    });
  });
}
