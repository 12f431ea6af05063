#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The klp-lab command. The lab is TypeScript: this launcher runs the CLI's bundle (bundle.mjs:
 * one module, rebuilt whenever a source is newer, so a start costs 0.2 s instead of tsx's 0.7-1
 * s), or, when it cannot be built or KLP_LAB_TSX=1 is set, registers tsx's loader and imports
 * the sources themselves. Paths are relative to this file, so the command works from any
 * directory and once installed (npm link, npm install -g), where a shebang running `npx tsx`
 * would look for tsx in the caller's directory.
 */
import { bundle } from './bundle.mjs';

const built = process.env.KLP_LAB_TSX === '1' ? undefined : await bundle('src/cli/main.ts', 'build/cli/klp-lab.mjs');
if (built) await import(built);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
