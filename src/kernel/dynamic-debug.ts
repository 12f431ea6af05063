// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Dynamic debug (lib/dynamic_debug.c): every pr_debug() call site is a descriptor -- module,
 * function, file, line, format and flags -- and prints only while its 'p' flag is set. All
 * are off at boot. The control file (/sys/kernel/debug/dynamic_debug/control) lists them as
 * `file:line [module]function =flags "format"` and takes the kernel's queries:
 *
 *     file kernel/livepatch/* +p; func klp_try_switch_task -p
 *     module test_klp_* format "transition" line 10-20 =pmf
 *
 * Descriptors come from two places, both in one table, in the order they were added:
 *   - the guest's: `struct _ddebug` records in the `__dyndbg` section of the image and of each
 *     module, whose flags live in guest memory (the firmware's pr_debug tests them there);
 *   - the host's: the livepatch core's pr_debug sites, under the kernel's file names and
 *     module ("livepatch"), with the line of our own TypeScript source where each site is
 *     declared (hostDebugSite()).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EINVAL } from '../elf/index.ts';
import type { Kernel } from './kernel.ts';

/** Flag bits, in the order the control file prints them (the kernel's letters). */
export const DPRINTK_FLAGS = [
  ['p', 1 << 0], // print
  ['m', 1 << 1], // prefix the module name
  ['f', 1 << 2], // prefix the function name
  ['l', 1 << 3], // prefix the line number
  ['t', 1 << 4], // prefix the thread id
] as const;
export const DPRINTK_PRINT = 1 << 0;
export const DPRINTK_MODNAME = 1 << 1;
export const DPRINTK_FUNCNAME = 1 << 2;
export const DPRINTK_LINENO = 1 << 3;
export const DPRINTK_TID = 1 << 4;
const ALL_FLAGS = DPRINTK_FLAGS.reduce((a, [, b]) => a | b, 0);

/** A pr_debug() call site. Its flags may be host fields or guest bytes (see GuestDescriptor). */
export interface DdebugDescriptor {
  readonly modname: string;
  readonly function: string;
  readonly filename: string;
  readonly format: string;
  readonly lineno: number;
  flags: number;
}

/** A descriptor whose flags the host keeps (the host's own pr_debug sites). */
export class HostDescriptor implements DdebugDescriptor {
  flags = 0;
  constructor(
    readonly modname: string,
    readonly filename: string,
    readonly func: string,
    readonly format: string,
    readonly lineno: number,
  ) {}
  get function(): string {
    return this.func;
  }
}

/** -EINVAL from a write to the control file, with what was wrong with the query. */
export class DdebugQueryError extends Error {
  readonly errno = -EINVAL;
  constructor(
    readonly query: string,
    readonly problem: string,
  ) {
    super(`dynamic_debug/control: ${problem} in query '${query}' (-EINVAL)`);
    this.name = 'DdebugQueryError';
  }
}

/** One parsed query: what to match (all optional) and how to change the flags. */
export interface DdebugQuery {
  text: string;
  file?: string;
  func?: string;
  module?: string;
  format?: string;
  firstLine?: number;
  lastLine?: number;
  op: '+' | '-' | '=';
  flags: number;
}

const KEYWORDS = ['file', 'func', 'module', 'format', 'line'] as const;

/**
 * Splits a query into words: blanks separate them, a word may be quoted with "..." or '...'
 * (a format with spaces), and an unquoted '#' starts a comment that runs to the end.
 */
function tokenize(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') break;
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new DdebugQueryError(text, `unclosed quote ${c}`);
      words.push(text.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/\s/.test(text[j])) j++;
    words.push(text.slice(i, j));
    i = j;
  }
  return words;
}

function parseFlags(query: string, word: string): { op: '+' | '-' | '='; flags: number } {
  const op = word[0];
  if (op !== '+' && op !== '-' && op !== '=') throw new DdebugQueryError(query, `bad flag-op '${op}', seeking "+-="`);
  let flags = 0;
  for (const ch of word.slice(1)) {
    if (ch === '_') continue; // "no flags": =_ clears them all
    const f = DPRINTK_FLAGS.find(([c]) => c === ch);
    if (!f) throw new DdebugQueryError(query, `unknown flag '${ch}'`);
    flags |= f[1];
  }
  return { op, flags };
}

/** line N, N-M, N- (to the end), -M (from the start). */
function parseLineRange(query: string, spec: string): { first: number; last: number } {
  const m = /^(\d*)(?:(-)(\d*))?$/.exec(spec);
  if (!m || (!m[1] && !m[3] && m[2])) throw new DdebugQueryError(query, `bad line-number range '${spec}'`);
  if (!m[1] && !m[2]) throw new DdebugQueryError(query, `bad line-number range '${spec}'`);
  const first = m[1] ? Number(m[1]) : 0;
  const last = m[2] ? (m[3] ? Number(m[3]) : Number.MAX_SAFE_INTEGER) : first;
  if (last < first) throw new DdebugQueryError(query, `last-line:${last} < 1st-line:${first}`);
  return { first, last };
}

/** The escapes a format word may use: \t \n \\ \" \' and octal \ooo. */
function unescapeFormat(s: string): string {
  return s.replace(/\\([0-7]{1,3}|.)/g, (_, e: string) => {
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ t: '\t', n: '\n', r: '\r' } as Record<string, string>)[e] ?? e;
  });
}

/** Parses one query (no ';' or newline in it); an empty or comment-only one is null. */
export function parseQuery(text: string): DdebugQuery | null {
  const words = tokenize(text);
  if (!words.length) return null;
  const flagWord = words.pop()!;
  const q: DdebugQuery = { text: text.trim(), ...parseFlags(text.trim(), flagWord) };
  if (words.length % 2) throw new DdebugQueryError(q.text, 'expecting pairs of match-spec <value>');
  for (let i = 0; i < words.length; i += 2) {
    const [kw, value] = [words[i], words[i + 1]];
    if (!(KEYWORDS as readonly string[]).includes(kw)) throw new DdebugQueryError(q.text, `unknown keyword '${kw}'`);
    const key = kw as (typeof KEYWORDS)[number];
    const seen = key === 'line' ? q.firstLine !== undefined : q[key] !== undefined;
    if (seen) throw new DdebugQueryError(q.text, `match-spec '${kw}' given twice`);
    if (key === 'line') {
      const r = parseLineRange(q.text, value);
      q.firstLine = r.first;
      q.lastLine = r.last;
    } else if (key === 'format') q.format = unescapeFormat(value);
    else q[key] = value;
  }
  return q;
}

/** Parses what one write to the control file holds: queries separated by ';' or newlines. */
export function parseQueries(text: string): DdebugQuery[] {
  return text
    .split(/[;\n]/)
    .map(parseQuery)
    .filter((q): q is DdebugQuery => q !== null);
}

/** The kernel's match_wildcard(): '*' any run of characters, '?' any one. */
export function matchWildcard(pattern: string, s: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return re.test(s);
}

function matches(q: DdebugQuery, d: DdebugDescriptor): boolean {
  // a file matches by its whole name or by its last component
  if (q.file !== undefined && !matchWildcard(q.file, d.filename) && !matchWildcard(q.file, d.filename.replace(/.*\//, ''))) return false;
  if (q.module !== undefined && !matchWildcard(q.module, d.modname)) return false;
  if (q.func !== undefined && !matchWildcard(q.func, d.function)) return false;
  if (q.format !== undefined && !d.format.includes(q.format)) return false;
  if (q.firstLine !== undefined && (d.lineno < q.firstLine || d.lineno > q.lastLine!)) return false;
  return true;
}

/** "p", "pmf", or "_" for none, as the control file shows them. */
export function describeFlags(flags: number): string {
  const s = DPRINTK_FLAGS.filter(([, b]) => flags & b)
    .map(([c]) => c)
    .join('');
  return s || '_';
}

/** The control file's escaping of a format: tabs, newlines, returns and quotes backslashed. */
function escapeFormat(s: string): string {
  return s.replace(/[\t\r\n"\\]/g, (c) => ({ '\t': '\\t', '\r': '\\r', '\n': '\\n', '"': '\\"', '\\': '\\\\' })[c]!);
}

interface Table {
  owner: string;
  descs: readonly DdebugDescriptor[];
}

/** The control table of one kernel: the image's and the host's descriptors, then each module's. */
export class DynamicDebug {
  private readonly tables: Table[] = [];

  /** Adds a table (the image's, a module's as it comes, the host's). */
  addTable(owner: string, descs: readonly DdebugDescriptor[]): void {
    if (this.tables.some((t) => t.owner === owner)) throw new Error(`dynamic debug table '${owner}' already added`);
    this.tables.push({ owner, descs });
  }

  /** A module's table goes with the module. */
  removeTable(owner: string): void {
    const i = this.tables.findIndex((t) => t.owner === owner);
    if (i >= 0) this.tables.splice(i, 1);
  }

  *descriptors(): Generator<DdebugDescriptor> {
    for (const t of this.tables) yield* t.descs;
  }

  /** cat control: a header, then one line per descriptor. */
  read(): string {
    const lines = ['# filename:lineno [module]function flags format'];
    for (const d of this.descriptors())
      lines.push(`${d.filename}:${d.lineno} [${d.modname}]${d.function} =${describeFlags(d.flags)} "${escapeFormat(d.format)}"`);
    return lines.join('\n') + '\n';
  }

  /**
   * echo QUERIES > control. Every query is parsed before any is applied, so a bad one changes
   * nothing (the kernel applies the good ones of a batch; a write that fails leaving others
   * applied is what this project's rules forbid). Returns how many descriptors matched.
   */
  write(text: string): number {
    const queries = parseQueries(text);
    let n = 0;
    for (const q of queries) n += this.apply(q);
    return n;
  }

  private apply(q: DdebugQuery): number {
    let n = 0;
    for (const d of this.descriptors()) {
      if (!matches(q, d)) continue;
      n++;
      const f = q.op === '+' ? d.flags | q.flags : q.op === '-' ? d.flags & ~q.flags : q.flags;
      if (f !== d.flags) d.flags = f & ALL_FLAGS;
    }
    return n;
  }
}

/**
 * The line of `needle` (a site's format) in our own source file `url`: a host descriptor's
 * line number. Read once per file; 0 when the source is not there to read.
 */
const sources = new Map<string, string[] | null>();
export function sourceLine(url: string, needle: string): number {
  let lines = sources.get(url);
  if (lines === undefined) {
    try {
      lines = readFileSync(fileURLToPath(url), 'utf8').split('\n');
    } catch {
      lines = null;
    }
    sources.set(url, lines);
  }
  const i = lines?.findIndex((l) => l.includes(needle)) ?? -1;
  return i + 1;
}

/**
 * The prefix the m, f, l and t flags ask for ("livepatch:klp_try_switch_task:123: "), as the
 * kernel puts before the message.
 */
export function dynamicPrefix(d: DdebugDescriptor, tid?: number): string {
  let p = '';
  if (d.flags & DPRINTK_TID) p += `[${tid ?? 0}] `;
  if (d.flags & DPRINTK_MODNAME) p += `${d.modname}:`;
  if (d.flags & DPRINTK_FUNCNAME) p += `${d.function}:`;
  if (d.flags & DPRINTK_LINENO) p += `${d.lineno}:`;
  return p && !p.endsWith(' ') ? `${p} ` : p;
}

// --- one kernel's table: the image's descriptors, the host's, each module's ----------------

/** A `struct _ddebug` in guest memory: the strings are read once, the flags every time. */
export class GuestDescriptor implements DdebugDescriptor {
  readonly modname: string;
  readonly function: string;
  readonly filename: string;
  readonly format: string;
  readonly lineno: number;
  private readonly flagsAt: bigint;

  constructor(
    private readonly k: Kernel,
    readonly address: bigint,
  ) {
    const L = k.layout;
    const str = (m: string) => k.mem.cstring(k.mem.u64(address + BigInt(L.offset('_ddebug', m))), 256);
    this.modname = str('modname');
    this.function = str('function');
    this.filename = str('filename');
    this.format = str('format');
    this.lineno = k.mem.u32(address + BigInt(L.offset('_ddebug', 'lineno')));
    this.flagsAt = address + BigInt(L.offset('_ddebug', 'flags'));
  }

  get flags(): number {
    return this.k.mem.u32(this.flagsAt);
  }
  set flags(v: number) {
    this.k.mem.setU32(this.flagsAt, v);
  }
}

/** The descriptors of a __dyndbg section at [start, start + size). */
export function guestDescriptors(k: Kernel, start: bigint, size: number): GuestDescriptor[] {
  const stride = k.layout.sizeof('_ddebug');
  const out: GuestDescriptor[] = [];
  for (let off = 0; off + stride <= size; off += stride) out.push(new GuestDescriptor(k, start + BigInt(off)));
  return out;
}

/** A pr_debug site of the host's part of the kernel, declared once at module level (hostDebugSite). */
export interface HostDebugSite {
  readonly modname: string;
  readonly filename: string;
  readonly func: string;
  readonly format: string;
  readonly lineno: number;
}

const hostSites: HostDebugSite[] = [];

/**
 * Declares a host pr_debug site: the kernel's module, file, function and format, and as its
 * line the line of `format` in our source file `url` (import.meta.url of the declaring file).
 */
export function hostDebugSite(url: string, modname: string, filename: string, func: string, format: string): HostDebugSite {
  const site = { modname, filename, func, format, lineno: sourceLine(url, JSON.stringify(format).slice(1, -1)) };
  hostSites.push(site);
  return site;
}

export class KernelDynamicDebug extends DynamicDebug {
  private readonly host = new Map<HostDebugSite, HostDescriptor>();
  private readonly hostTable: HostDescriptor[] = [];

  constructor(k: Kernel) {
    super();
    const start = k.sym('__start___dyndbg');
    this.addTable('vmlinux', guestDescriptors(k, start, Number(k.sym('__stop___dyndbg') - start)));
    this.addTable('host', this.hostTable);
    for (const s of hostSites) this.descriptor(s);
  }

  /** The host descriptor of a site (a site declared after the table was made joins it now). */
  descriptor(s: HostDebugSite): HostDescriptor {
    let d = this.host.get(s);
    if (!d) {
      d = new HostDescriptor(s.modname, s.filename, s.func, s.format, s.lineno);
      this.host.set(s, d);
      this.hostTable.push(d);
    }
    return d;
  }
}

/** A host pr_debug(): logged at KERN_DEBUG only while its descriptor's 'p' flag is set. */
export function hostPrDebug(k: Kernel, site: HostDebugSite, prefix: string, text: string): void {
  const d = k.dynamicDebug.descriptor(site);
  if (!(d.flags & DPRINTK_PRINT)) return;
  k.log.hostPrintk(7, `${dynamicPrefix(d)}${prefix}${text}`, k.machine.clockNs);
}
