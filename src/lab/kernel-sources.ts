// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's own livepatch test modules and selftest scripts, from Debian's linux-source-6.1
 * and linux-source-6.12 packages: fetched on first use into a cache outside the repository
 * (scripts/kernel-sources.sh), never committed, and built for the lab, unmodified, by the
 * firmware's Kbuild-style `make -C firmware M=DIR`. They are the lab's conformance suite: the
 * lab's selftest scenarios run against them as against the lab's own modules of the same name.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KERNEL_VERSIONS = ['6.1', '6.12'] as const;
export type KernelVersion = (typeof KERNEL_VERSIONS)[number];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIRMWARE = join(ROOT, 'firmware');

/** Fetching or building the kernel's sources failed: says which step and why. */
export class KernelSourcesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelSourcesError';
  }
}

export function isKernelVersion(v: string): v is KernelVersion {
  return (KERNEL_VERSIONS as readonly string[]).includes(v);
}

/** $KLP_LAB_CACHE, else $XDG_CACHE_HOME/klp-lab, else ~/.cache/klp-lab. */
export function cacheDir(): string {
  const env = process.env;
  if (env.KLP_LAB_CACHE) return env.KLP_LAB_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'klp-lab');
}

export interface KernelSources {
  version: KernelVersion;
  /** The Debian package's version, e.g. "6.1.192-3". */
  debianVersion: string;
  /** The extracted part of the tree (lib/livepatch and tools/testing/selftests/livepatch). */
  root: string;
  /** The folder of the livepatch test modules' sources and their Makefile. */
  testModules: string;
  /** tools/testing/selftests/livepatch: functions.sh and the test-*.sh scripts. */
  selftests: string;
}

function run(what: string, file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim() || err.message;
    throw new KernelSourcesError(`${what} failed:\n${out}`);
  }
}

/** The livepatch parts of linux-source-VERSION, fetched into the cache unless already there. */
export function kernelSources(version: KernelVersion): KernelSources {
  if (!isKernelVersion(version))
    throw new KernelSourcesError(`unknown kernel version '${version}': the lab knows ${KERNEL_VERSIONS.join(', ')}`);
  const root = run(`fetching Debian's linux-source-${version}`, 'bash', [
    join(ROOT, 'scripts/kernel-sources.sh'),
    version,
    cacheDir(),
  ]).trim();
  const selftests = join(root, 'tools/testing/selftests/livepatch');
  return {
    version,
    debianVersion: readFileSync(join(root, '.debian-version'), 'utf8').trim(),
    root,
    testModules: version === '6.1' ? join(root, 'lib/livepatch') : join(selftests, 'test_modules'),
    selftests,
  };
}

export interface KernelTestModules {
  sources: KernelSources;
  /** Where the modules were built: NAME.ko for every module of the Makefile's obj-m. */
  dir: string;
  /** The module names, sorted. */
  names: string[];
}

/**
 * Builds VERSION's livepatch test modules for the lab, unmodified: a copy of their folder in
 * this checkout's firmware/build (the build follows this checkout's headers, and the cache
 * stays pristine) goes through `make -C firmware M=DIR`, as `make -C $KDIR M=DIR` would
 * build them for a kernel. Any compiler or objtool warning fails the build.
 */
export function kernelTestModules(version: KernelVersion): KernelTestModules {
  const sources = kernelSources(version);
  const dir = join(FIRMWARE, 'build', `linux-${version}`, 'test_modules');
  mkdirSync(dir, { recursive: true });
  // Timestamps kept: make rebuilds only what changed, here or in the firmware's headers.
  for (const f of readdirSync(sources.testModules)) cpSync(join(sources.testModules, f), join(dir, f), { preserveTimestamps: true });
  // One build at a time per folder (test workers may ask at once).
  run(`building linux-${version}'s livepatch test modules (make -C firmware M=${dir})`, 'flock', [
    '-w',
    '900',
    `${dir}.lock`,
    'make',
    '-s',
    '-C',
    FIRMWARE,
    `M=${dir}`,
  ]);
  const names = objM(join(dir, 'Makefile'));
  for (const n of names) if (!existsSync(join(dir, `${n}.ko`))) throw new KernelSourcesError(`make -C firmware M=${dir} made no ${n}.ko`);
  return { sources, dir, names };
}

/** The modules a kernel Makefile lists in obj-m or obj-$(CONFIG_...), as Kbuild reads them. */
export function objM(makefile: string): string[] {
  const text = readFileSync(makefile, 'utf8').replace(/\\\n/g, ' ');
  const names = new Set<string>();
  for (const m of text.matchAll(/^obj-(?:m|\$\(CONFIG_\w+\))\s*[+:]?=(.*)$/gm))
    for (const word of m[1].trim().split(/\s+/)) if (word.endsWith('.o')) names.add(word.slice(0, -2));
  return [...names].sort();
}
