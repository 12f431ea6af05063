// SPDX-License-Identifier: GPL-2.0-or-later
// Worker side of bounded.ts: loads a TypeScript module through tsx (a worker does not inherit
// vitest's transform), calls one of its exports with the argument and a shared progress array,
// and posts back what it returned or threw.
import { parentPort, workerData } from 'node:worker_threads';

const { module, fn, arg, progress } = workerData;
try {
  const { tsImport } = await import('tsx/esm/api');
  const mod = await tsImport(module, import.meta.url);
  const result = await mod[fn](arg, new Int32Array(progress));
  parentPort.postMessage({ result });
} catch (e) {
  parentPort.postMessage({ error: { name: e?.name, message: e?.message ?? String(e), stack: e?.stack } });
}
