// SPDX-License-Identifier: GPL-2.0-or-later
// Typed errors of the module loader. Each says where the problem is (the object file, the
// section, the offset in it, the symbol) and carries the errno the kernel's loader gives in the
// same case, so the livepatch core and the CLI can report them the way the kernel does.

import { errnoValue } from './errno.ts';
import { hex } from './format.ts';

/** Where in an object a problem is: "section [10] .text.foo+0x17". */
export interface ModuleLocation {
  readonly section?: { readonly index: number; readonly name: string };
  readonly offset?: bigint;
}

export function describeLocation(where: ModuleLocation): string {
  if (!where.section) return where.offset === undefined ? '' : `offset ${hex(where.offset)}`;
  const s = `section [${where.section.index}] ${where.section.name}`;
  return where.offset === undefined ? s : `${s}+${hex(where.offset)}`;
}

/** Base class: anything the loader throws on purpose. `errno` is the name, `code` the negative number. */
export class ModuleError extends Error {
  readonly code: number;

  constructor(
    /** The object file (or the module's name when the problem is not in a file). */
    readonly file: string,
    readonly errno: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${problem} (-${errno})`, options);
    this.name = new.target.name;
    this.code = -errnoValue(errno);
  }
}

/** The object is not a loadable module: damaged, truncated, or breaking the module conventions. */
export class ModuleFormatError extends ModuleError {
  constructor(
    file: string,
    readonly problem: string,
    readonly where: ModuleLocation = {},
    options?: { cause?: unknown },
  ) {
    const at = describeLocation(where);
    super(file, 'ENOEXEC', at ? `${at}: ${problem}` : problem, options);
  }
}

/** A candidate an undefined symbol could bind to. */
export interface SymbolCandidateInfo {
  readonly name: string;
  readonly address: bigint;
  /** 'vmlinux' or the module that exports it. */
  readonly owner: string;
  readonly local: boolean;
}

export function describeCandidate(c: SymbolCandidateInfo): string {
  return c.owner === 'vmlinux' ? `${hex(c.address)} (vmlinux, ${c.local ? 'local' : 'global'})` : `${hex(c.address)} [${c.owner}]`;
}

/**
 * How many unknown names a message shows: a module built against the wrong kernel can miss
 * hundreds, and a message that lists them all buries the first, which is the one to look at.
 */
export const UNKNOWN_NAMES_SHOWN = 8;

/** "'a', 'b' and 3 more": the first `shown` names, then how many were left out. */
function listNames(names: readonly string[], shown: number): string {
  const listed = names
    .slice(0, shown)
    .map((n) => `'${n}'`)
    .join(', ');
  return names.length > shown ? `${listed} and ${names.length - shown} more` : listed;
}

/**
 * An undefined symbol of the module has no definition in the image or a live module's exports
 * (-ENOENT, the kernel's "Unknown symbol"), or more than one (then `candidates` lists them all
 * and the loader refuses to guess).
 */
export class UnresolvedSymbolError extends ModuleError {
  readonly reason: 'undefined' | 'ambiguous';

  constructor(
    file: string,
    readonly symbol: string,
    readonly where: ModuleLocation,
    readonly candidates: readonly SymbolCandidateInfo[] = [],
    /** Other undefined symbols of the same object, all of them (the message shows the first few). */
    readonly others: readonly string[] = [],
  ) {
    const at = describeLocation(where);
    const problem =
      candidates.length > 1
        ? `symbol '${symbol}' is ambiguous: ${candidates.length} candidates at ${candidates.map(describeCandidate).join(', ')}`
        : `unknown symbol '${symbol}'${others.length ? ` (also unknown: ${listNames(others, UNKNOWN_NAMES_SHOWN - 1)})` : ''}`;
    super(file, candidates.length > 1 ? 'EINVAL' : 'ENOENT', `${at ? `${at}: ` : ''}${problem}`);
    this.reason = candidates.length > 1 ? 'ambiguous' : 'undefined';
  }
}

/** What a relocation failure is about. */
export interface RelocationInfo extends ModuleLocation {
  readonly typeName: string;
  readonly type: number;
  readonly symbol: string;
  readonly addend: bigint;
}

function describeRelocation(r: RelocationInfo): string {
  const a = r.addend === 0n ? '' : r.addend < 0n ? ` - ${hex(-r.addend)}` : ` + ${hex(r.addend)}`;
  return `${describeLocation(r)}: ${r.typeName} against '${r.symbol}'${a}`;
}

/** Signed hex: -0x10 rather than 0xfffffffffffffff0. */
export function signedHex(v: bigint): string {
  return v < 0n ? `-${hex(-v)}` : hex(v);
}

/** A relocation's value does not fit its field (a PC32 too far, a 32S outside the top/bottom 2 GiB). */
export class RelocationOverflowError extends ModuleError {
  constructor(
    file: string,
    readonly relocation: RelocationInfo,
    readonly value: bigint,
    readonly min: bigint,
    readonly max: bigint,
  ) {
    super(
      file,
      'ENOEXEC',
      `${describeRelocation(relocation)}: value ${signedHex(value)} does not fit: ` +
        `the field holds [${signedHex(min)}, ${signedHex(max)}] (relocation overflow)`,
    );
  }
}

/** A relocation type the loader does not apply (GOT, TLS, 16/8-bit, ...). */
export class UnsupportedRelocationError extends ModuleError {
  constructor(
    file: string,
    readonly relocation: RelocationInfo,
  ) {
    super(file, 'ENOEXEC', `${describeRelocation(relocation)}: unsupported relocation type ${relocation.type}`);
  }
}
