// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * capstone and keystone come from npm as wasm builds that load alike: the package exports an
 * asynchronous factory, whose result holds the engine's class and its x86 / 64-bit constants.
 * One loader for both, so each of disasm.ts and asm.ts only says which package and class.
 */
import { createRequire } from 'node:module';

type WasmFactory = () => Promise<{ ARCH_X86: number; MODE_64: number } & Record<string, unknown>>;

/** Loads package `pkg` and returns a new x86-64 instance of its class `engine`. */
export async function loadX86Engine<H>(pkg: string, engine: string): Promise<H> {
  const require = createRequire(import.meta.url);
  const lib = await (require(pkg) as WasmFactory)();
  const Engine = lib[engine] as new (arch: number, mode: number) => H;
  return new Engine(lib.ARCH_X86, lib.MODE_64);
}
