#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * klp-convert IN.o [OUT.o]: rewrites a livepatch module's KLP_MODULE_RELOC() annotations into
 * .klp.rela.* sections and .klp.sym.* symbols (src/elf/klp-convert.ts). The firmware Makefile
 * runs it on every patch module that has annotations. Launched like bin/klp-lab.mjs.
 */
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/klp-convert.ts', import.meta.url).href);
