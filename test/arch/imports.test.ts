// SPDX-License-Identifier: GPL-2.0-or-later
// The import graph of src/ against README's "Layout": every folder imports only folders below
// it in the one line of arrows there, only through their index.ts, and no two folders need each
// other. Reads the sources only (TypeScript's import pre-processor); no firmware.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

export interface ImportEdge {
  from: string; // file, relative to src/
  to: string; // file, relative to src/
}

/** Folders of src/ from the bottom up, as README's dependency line lists them. */
export function readmeOrder(readme: string): string[] {
  const line = readme.split('\n').find((l) => l.startsWith('Dependencies point one way:'));
  if (!line) throw new Error('README has no "Dependencies point one way:" line');
  const para = readme.slice(readme.indexOf(line)).split('\n\n')[0];
  const order = [...para.matchAll(/`src\/([a-z]+)\/`/g)].map((m) => m[1]);
  if (/knot/.test(para)) throw new Error(`README's dependency line admits a knot: ${para}`);
  return order;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import (static, type-only, re-export, dynamic) between files of src/. */
export function importEdges(files: Iterable<[string, string]>): ImportEdge[] {
  const out: ImportEdge[] = [];
  for (const [file, text] of files) {
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      out.push({ from: file, to: relative(SRC, resolve(dirname(join(SRC, file)), ref.fileName)) });
    }
  }
  return out;
}

/** The top folder of a src/ file ('' for src/index.ts, the library entry above everything). */
const folderOf = (file: string): string => (file.includes('/') ? file.split('/')[0] : '');

/** What is wrong with a set of import edges, given the folders' order (bottom first). */
export function importProblems(edges: readonly ImportEdge[], order: readonly string[]): string[] {
  const problems: string[] = [];
  const rank = (f: string) => (f === '' ? order.length : order.indexOf(f));
  const deps = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    for (const f of [a, b]) if (rank(f) < 0) problems.push(`src/${f}/ is not in README's dependency line`);
    if (!deps.has(a)) deps.set(a, new Set());
    deps.get(a)!.add(b);
    if (rank(b) >= rank(a)) problems.push(`upward import: src/${from} -> src/${to}`);
    if (to !== `${b}/index.ts`) problems.push(`not through the index: src/${from} -> src/${to} (use src/${b}/index.ts)`);
  }
  // cycles between folders (a DFS over the folder graph)
  const state = new Map<string, 'open' | 'done'>();
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      problems.push(`cycle: ${[...path.slice(path.indexOf(f)), f].map((x) => `src/${x}/`).join(' -> ')}`);
      return;
    }
    state.set(f, 'open');
    for (const d of deps.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of deps.keys()) visit(f, []);
  return [...new Set(problems)];
}

describe('import graph of src/', () => {
  const order = readmeOrder(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  const files = sources(SRC).map((p) => [relative(SRC, p), readFileSync(p, 'utf8')] as [string, string]);

  it('README orders every folder of src/', () => {
    const folders = new Set(files.map(([f]) => folderOf(f)).filter((f) => f));
    expect(order.filter((f) => f === 'emu')).toHaveLength(1);
    expect([...folders].filter((f) => !order.includes(f))).toEqual([]);
  });

  it('has no cycle, no upward arrow, and crosses folders only through index.ts', () => {
    expect(importProblems(importEdges(files), order)).toEqual([]);
  });

  it('catches an upward import, a bypassed index and a cycle', () => {
    const bad = importEdges([
      ['kernel/oops.ts', "import { orcUnwinder } from '../orc/index.ts';"],
      ['orc/unwind.ts', "import type { Kernel } from '../kernel/kernel.ts';"],
    ]);
    expect(importProblems(bad, order)).toEqual([
      'upward import: src/kernel/oops.ts -> src/orc/index.ts',
      'not through the index: src/orc/unwind.ts -> src/kernel/kernel.ts (use src/kernel/index.ts)',
      'cycle: src/kernel/ -> src/orc/ -> src/kernel/',
    ]);
  });
});
