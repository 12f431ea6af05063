#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The klp-lab command. The lab is TypeScript run through tsx; this launcher registers tsx's
 * loader and imports the CLI by a path relative to this file, so the command works from any
 * directory and once installed (npm link, npm install -g), where a shebang running `npx tsx`
 * would look for tsx in the caller's directory.
 */
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
