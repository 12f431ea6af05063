// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runs a function of a test module in a worker thread with a heap cap and a time limit, so that
 * input which makes the code under test take unbounded memory or time fails the test (with what
 * the worker was doing) instead of killing the test runner with a V8 fatal error or hanging it.
 */
import { Worker } from 'node:worker_threads';

export interface BoundedOptions {
  /** The worker's old-generation heap cap (V8's --max-old-space-size for the worker). */
  maxOldGenerationSizeMb: number;
  /** The worker is terminated after this long. */
  timeoutMs: number;
  /** Slots of shared progress the function may write (e.g. the variant it is on); 4 by default. */
  progressSlots?: number;
}

export type BoundedOutcome<T> =
  | { kind: 'ok'; result: T; progress: number[]; ms: number }
  | { kind: 'threw'; name: string; message: string; stack?: string; progress: number[]; ms: number }
  | { kind: 'out-of-memory' | 'timeout'; message: string; progress: number[]; ms: number };

/** An outcome before the progress and the time are added. */
type Ending<T> = BoundedOutcome<T> extends infer O ? (O extends unknown ? Omit<O, 'progress' | 'ms'> : never) : never;

/**
 * Calls `fn` exported by the TypeScript module `module` as fn(arg, progress) in a worker, where
 * `progress` is an Int32Array shared with this thread: what it holds when the worker dies or
 * times out is reported, so the failing input can be replayed.
 */
export function runBounded<T>(module: URL, fn: string, arg: unknown, opts: BoundedOptions): Promise<BoundedOutcome<T>> {
  const shared = new SharedArrayBuffer(4 * (opts.progressSlots ?? 4));
  const progress = new Int32Array(shared);
  const started = Date.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Ending<T>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...o, progress: [...progress], ms: Date.now() - started } as BoundedOutcome<T>);
      void worker.terminate();
    };
    const worker = new Worker(new URL('./entry.mjs', import.meta.url), {
      workerData: { module: module.href, fn, arg, progress: shared },
      resourceLimits: { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb },
      stdout: false,
      stderr: false,
    });
    const timer = setTimeout(() => finish({ kind: 'timeout', message: `no answer within ${opts.timeoutMs} ms` }), opts.timeoutMs);
    worker.on('message', (m: { result?: T; error?: { name: string; message: string; stack?: string } }) => {
      if (m.error) finish({ kind: 'threw', ...m.error });
      else finish({ kind: 'ok', result: m.result as T });
    });
    worker.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') finish({ kind: 'out-of-memory', message: e.message });
      else finish({ kind: 'threw', name: e.name, message: e.message, stack: e.stack });
    });
    worker.on('exit', (code) => finish({ kind: 'threw', name: 'WorkerExit', message: `worker exited with code ${code} before answering` }));
  });
}
