// SPDX-License-Identifier: GPL-2.0-or-later
// Two tiers. "fast": tests on files alone (ELF, ORC tables, objtool's dump, damaged input),
// seconds in all, no emulated machine: `npm run test:fast`. "firmware": everything that boots
// the firmware on emulated vCPUs. `npm test` runs both.
import { defineConfig } from 'vitest/config';

const FAST = [
  'test/elf/**/*.test.ts',
  'test/orc/table.test.ts',
  'test/orc/dump.test.ts',
  'test/orc/bad-input.test.ts',
  'test/arch/**/*.test.ts',
  'test/conformance/kernel-sources.test.ts',
  'test/livepatch/switch.test.ts',
  'test/cli/bundle.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'fast', include: FAST } },
      { extends: true, test: { name: 'firmware', include: ['test/**/*.test.ts'], exclude: FAST } },
    ],
  },
});
