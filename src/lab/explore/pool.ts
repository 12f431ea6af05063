// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who runs a campaign's schedules: this thread, or worker threads. Threads, not processes:
 * every vCPU of a lab runs in the thread that booted it, Unicorn's engines share nothing
 * between labs, and koffi's bindings load once per thread (the fuzz test already boots labs
 * in workers), so N threads run N labs at once with no process per worker and no copy of the
 * firmware's tables between them. Each worker is one host core's worth of emulation.
 */
import { Worker } from 'node:worker_threads';
import type { Scenario } from '../scenario.ts';
import type { CheckerFactory } from '../violation.ts';
import { runSchedule, type RunOutcome } from './run.ts';
import { generateSchedule, type Schedule } from './schedule.ts';
import type { WorkerInit } from './worker.ts';

/**
 * A checker named by its module and export, so that a worker thread can load it itself (a
 * function cannot cross threads).
 */
export interface CheckerRef {
  /** URL of the module (file:...). */
  module: string;
  name: string;
}

/** The checker a CheckerRef names, loaded in this thread. */
export async function loadChecker(ref: CheckerRef): Promise<CheckerFactory> {
  const mod = (await import(ref.module)) as Record<string, unknown>;
  const f = mod[ref.name];
  if (typeof f !== 'function') throw new Error(`checker ${ref.name} is not exported by ${ref.module}`);
  return f as CheckerFactory;
}

export interface IndexResult {
  index: number;
  schedule: Schedule;
  outcome: RunOutcome;
}

/** Runs schedules by index, one at a time. */
export interface Runner {
  run(index: number): Promise<IndexResult>;
  close(): Promise<void>;
}

export interface PoolOptions {
  scenario: Scenario;
  seed: bigint;
  checker: CheckerFactory;
  checkerRef: CheckerRef;
  modulePath?: readonly string[];
}

/** This thread as a runner. */
export function localRunner(o: PoolOptions): Runner {
  return {
    async run(index) {
      const schedule = generateSchedule(o.scenario, o.seed, index);
      return { index, schedule, outcome: await runSchedule(o.scenario, schedule, o.checker, { modulePath: o.modulePath }) };
    },
    async close() {},
  };
}

/** A worker thread as a runner; resolves once the worker has loaded the lab and its checker. */
export async function workerRunner(o: PoolOptions): Promise<Runner> {
  const init: WorkerInit = { scenario: o.scenario, seed: o.seed.toString(), checker: o.checkerRef, modulePath: o.modulePath };
  const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: init });
  let waiting: { resolve: (r: IndexResult) => void; reject: (e: Error) => void } | undefined;
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    waiting?.reject(e);
    waiting = undefined;
  };
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`explore worker exited with code ${code} before it was ready`)));
  });
  worker.on('message', (m: IndexResult | { index: number; error: string }) => {
    const w = waiting;
    waiting = undefined;
    if ('error' in m) w?.reject(new Error(`schedule ${m.index}: ${m.error}`));
    else w?.resolve(m);
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`explore worker exited with code ${code}`)));
  return {
    run(index) {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        worker.postMessage(index);
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}

/** `workers` runners: this thread for one, worker threads for more. */
export async function startRunners(o: PoolOptions, workers: number): Promise<Runner[]> {
  if (workers <= 1) return [localRunner(o)];
  return Promise.all(Array.from({ length: workers }, () => workerRunner(o)));
}
