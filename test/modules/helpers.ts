// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers of the module loader's tests: a booted kernel with a module registry, hashes of guest
// RAM (a failed load must not change a byte), an independent check of the loader's relocation
// arithmetic by linking the same object with GNU ld at the addresses the loader chose, and a
// way to make small objects from assembly for relocations compiled C does not produce.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BootOptions } from '../../src/kernel/boot.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { Modules } from '../../src/kernel/modules.ts';
import { assembleModules, withUnwinder } from '../../src/lab/lab.ts';
import { ElfFile } from '../../src/elf/index.ts';
import { ELF64_RELA_SIZE, SHT_NOBITS } from '../../src/elf/constants.ts';
import type { ModuleLayout } from '../../src/elf/module.ts';
import { withKernel } from '../helpers.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const fixture = (name: string): string => `${FIXTURES}${name}.ko`;

/** A kernel run past its boot, with a module registry whose ORC the unwinder learns; closed after `fn`. */
export async function withModules<T>(opts: BootOptions, fn: (k: Kernel, ms: Modules) => T | Promise<T>): Promise<T> {
  // the unwinder comes after the first rounds: the order these tests were written against
  return withKernel(
    { cpus: 2, workload: 'idle', ...opts },
    (k) => {
      k.runFor(30);
      return fn(k, assembleModules(k, withUnwinder(k)));
    },
    { unwinder: false },
  );
}

export function ramHash(k: Kernel): string {
  return createHash('sha256').update(k.mem.buffer).digest('hex');
}

/** The bytes of the host-managed region (where modules live). */
export function hostRegionHash(k: Kernel): string {
  return createHash('sha256')
    .update(k.mem.bytes(k.hostMem.start, Number(k.hostMem.end - k.hostMem.start)))
    .digest('hex');
}

/**
 * The kernel's text and the host-managed region (modules, livepatch structures): what a refused
 * patch or module load must leave as it was.
 */
export function patchableState(lab: { k: Kernel }): string {
  const k = lab.k;
  return createHash('sha256')
    .update(k.mem.bytes(k.image.textStart, Number(k.image.textEnd - k.image.textStart)))
    .update(k.mem.bytes(k.hostMem.start, Number(k.hostMem.end - k.hostMem.start)))
    .digest('hex');
}

/** Runs `fn` expecting a throw; returns what was thrown. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an exception');
}

/** A scratch directory, removed by the returned cleanup. */
export function scratch(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'klp-mod-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Assembles x86-64 source into a relocatable object; returns its path. */
export function assemble(dir: string, name: string, source: string): string {
  const src = join(dir, `${name}.S`);
  const obj = join(dir, `${name}.o`);
  writeFileSync(src, source);
  execFileSync('as', ['--64', '-o', obj, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  return obj;
}

/**
 * Links `object` with GNU ld, every placed section at the address the loader gave it and every
 * undefined symbol at the address the loader bound it to; returns the linked bytes of each
 * placed section by section index. Sections whose name is shared by another input section
 * cannot be selected alone in a linker script and are left out.
 */
export function linkLikeLoader(
  dir: string,
  object: string,
  layout: ModuleLayout,
): Map<number, { address: bigint; bytes: Uint8Array; nobits: boolean }> {
  const names = new Map<string, number>();
  for (const s of layout.elf.sections) names.set(s.name, (names.get(s.name) ?? 0) + 1);
  const lines = ['SECTIONS {'];
  for (const p of layout.sections) {
    if (names.get(p.section.name) !== 1) continue;
    lines.push(`  .lab_s${p.section.index} 0x${p.address.toString(16)} : { KEEP(*(${p.section.name})) }`);
  }
  lines.push('  /DISCARD/ : { *(*) }', '}');
  const script = join(dir, 'module.ld');
  writeFileSync(script, lines.join('\n'));
  const out = join(dir, 'linked.elf');
  const defsyms = [...layout.imports.values()].map((i) => `--defsym=${i.name}=0x${BigInt.asUintN(64, i.address).toString(16)}`);
  execFileSync(
    'ld',
    [
      '-o',
      out,
      '-T',
      script,
      '-nostdlib',
      '--no-relax',
      '--build-id=none',
      '-z',
      'noexecstack',
      '--no-warn-rwx-segments',
      '-e',
      '0',
      ...defsyms,
      object,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const linked = ElfFile.read(out);
  const result = new Map<number, { address: bigint; bytes: Uint8Array; nobits: boolean }>();
  for (const s of linked.sections) {
    const m = /^\.lab_s(\d+)$/.exec(s.name);
    if (m) result.set(Number(m[1]), { address: s.addr, bytes: new Uint8Array(s.data()), nobits: s.type === SHT_NOBITS });
  }
  return result;
}

/**
 * A copy of an object with the addend of one relocation changed: the `nth` (0-based) entry of
 * the relocation section for `target` whose symbol is `symbol`.
 */
export function withAddend(path: string, target: string, symbol: string, addend: bigint, nth = 0): { bytes: Uint8Array; elf: ElfFile } {
  const bytes = new Uint8Array(readFileSync(path));
  const elf = ElfFile.parse(bytes, path);
  const rs = elf.relocations().find((r) => r.target.name === target);
  if (!rs) throw new Error(`no relocations for ${target}`);
  const hits = rs.entries.map((e, i) => ({ e, i })).filter(({ e }) => e.symbol.name === symbol);
  const hit = hits[nth];
  if (!hit) throw new Error(`no relocation #${nth} against ${symbol} in ${target}`);
  const at = rs.section.offset + hit.i * ELF64_RELA_SIZE + 16;
  new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(at, addend, true);
  return { bytes, elf: ElfFile.parse(bytes, path) };
}

const FIRMWARE = fileURLToPath(new URL('../../firmware/', import.meta.url));

/**
 * make -C firmware M=dir [target], after writing `files` (name -> text) into dir: how a module
 * of one's own is built. Returns make's status and its output (stdout and stderr together).
 */
export function kbuild(dir: string, files: Readonly<Record<string, string>> = {}, target?: string): { status: number; output: string } {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const r = spawnSync('make', ['-s', '-C', FIRMWARE, `M=${dir}`, ...(target ? [target] : [])], { encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}
