// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The command line as one ES module built by esbuild (which tsx already brings), rebuilt
 * whenever a source is newer: a process loading the bundle starts in about 0.2 s, where tsx
 * compiling and resolving the ~150 modules one by one took 0.7-1 s, and a selftest run starts
 * the command once per run. A developer never runs stale code: every start compares the
 * sources' modification times with the bundle's first (a few ms).
 *
 * Each module keeps its own import.meta.url (the URL of its source file): the lab finds its
 * firmware, fixtures and native helpers relative to the module that names them, and the
 * dynamic debug sites read their source lines from there. Names are kept (keepNames) as tsx
 * keeps them, since a few reports print function names.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time (ms) of the files the bundle is made from, and of this recipe. */
function newestSource(root) {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mts|mjs|js|json)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(root, 'src'));
  newest = Math.max(newest, statSync(fileURLToPath(import.meta.url)).mtimeMs);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) {
    try {
      newest = Math.max(newest, statSync(join(root, f)).mtimeMs);
    } catch {
      // an optional file (no lock file in an installed copy)
    }
  }
  return newest;
}

/**
 * The bundle of `entry` (a path under root's src/) at `out` (under build/), both relative to
 * `root` (the project's), built again first if any source is newer. Returns its file URL, or undefined when it cannot be built (the caller
 * falls back to tsx, which reports the same errors the way it always did).
 */
export async function bundle(entry, out, root = ROOT) {
  const outFile = join(root, out);
  const started = Date.now();
  let built = -1;
  try {
    built = statSync(outFile).mtimeMs;
  } catch {
    // not built yet
  }
  if (built >= newestSource(root)) return pathToFileURL(outFile).href;
  let esbuild;
  try {
    esbuild = createRequire(createRequire(join(ROOT, 'package.json')).resolve('tsx')).resolve('esbuild');
    esbuild = await import(pathToFileURL(esbuild).href);
  } catch {
    return undefined;
  }
  // written beside and renamed: labs started at once (a test suite) never load half a file
  const tmp = `${outFile}.${process.pid}.tmp`;
  mkdirSync(dirname(outFile), { recursive: true });
  try {
    await esbuild.build({
      entryPoints: [join(root, entry)],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      keepNames: true,
      sourcemap: 'inline',
      logLevel: 'silent',
      plugins: [
        {
          name: 'own-import-meta-url',
          setup(b) {
            b.onLoad({ filter: /\.(ts|mts|mjs)$/ }, (a) => ({
              contents: readFileSync(a.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
              loader: a.path.endsWith('ts') ? 'ts' : 'js',
            }));
          },
        },
      ],
    });
    // dated from before the build: a source saved while it ran is newer, and the next start rebuilds
    utimesSync(tmp, started / 1000, started / 1000);
    renameSync(tmp, outFile);
  } catch {
    rmSync(tmp, { force: true });
    return undefined;
  }
  return pathToFileURL(outFile).href;
}
