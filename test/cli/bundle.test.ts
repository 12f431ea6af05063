// SPDX-License-Identifier: GPL-2.0-or-later
// The command line's bundle (bin/bundle.mjs): built on first use, loaded as is while no source
// changed, built again as soon as one is newer, so the command never runs stale code; each
// module keeps its own import.meta.url.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
// @ts-expect-error: the launcher's helper is plain JavaScript, without declarations
import { bundle } from '../../bin/bundle.mjs';

const bundleOf = bundle as (entry: string, out: string, root?: string) => Promise<string | undefined>;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project of two modules: main.ts prints b.ts's value and b.ts's own URL. */
function project(value: string): string {
  const root = mkdtempSync(join(tmpdir(), 'klp-bundle-'));
  dirs.push(root);
  mkdirSync(join(root, 'src', 'sub'), { recursive: true });
  writeFileSync(join(root, 'src', 'main.ts'), "export { value, url } from './sub/b.ts';\n");
  writeFileSync(join(root, 'src', 'sub', 'b.ts'), `export const value: string = '${value}';\nexport const url = import.meta.url;\n`);
  return root;
}

async function load(url: string): Promise<{ value: string; url: string }> {
  // a new query each time: the module cache would give the first load again
  return (await import(`${url}?${statSync(new URL(url)).mtimeMs}-${Math.random()}`)) as { value: string; url: string };
}

describe("the command line's bundle", () => {
  it('is built, reused while the sources are older, and rebuilt when one is newer', async () => {
    const root = project('one');
    const url = await bundleOf('src/main.ts', 'build/out.mjs', root);
    expect(url).toBe(pathToFileURL(join(root, 'build', 'out.mjs')).href);
    const first = await load(url!);
    expect(first.value).toBe('one');
    // each module keeps the URL of its own source file
    expect(first.url).toBe(pathToFileURL(join(root, 'src', 'sub', 'b.ts')).href);
    const built = statSync(join(root, 'build', 'out.mjs')).mtimeMs;

    // nothing changed: the same file, not rebuilt
    await bundleOf('src/main.ts', 'build/out.mjs', root);
    expect(statSync(join(root, 'build', 'out.mjs')).mtimeMs).toBe(built);

    // an edit (dated after the build, as a save is) is in the next start's bundle
    const b = join(root, 'src', 'sub', 'b.ts');
    writeFileSync(b, "export const value: string = 'two';\nexport const url = import.meta.url;\n");
    utimesSync(b, new Date(built + 1000), new Date(built + 1000));
    expect((await load((await bundleOf('src/main.ts', 'build/out.mjs', root))!)).value).toBe('two');
  });

  it('gives nothing for sources that do not build, so the launcher falls back to tsx', async () => {
    const root = project('one');
    writeFileSync(join(root, 'src', 'sub', 'b.ts'), 'export const = ;\n');
    expect(await bundleOf('src/main.ts', 'build/out.mjs', root)).toBeUndefined();
  });
});
