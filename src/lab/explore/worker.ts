// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The worker side of a campaign (pool.ts starts it through worker-entry.mjs): each worker
 * thread has its own Unicorn engines, guest RAM and koffi bindings, boots a lab per schedule
 * and answers each index it is sent with that schedule's outcome. It generates the schedule
 * itself from the campaign seed and the index, so only numbers cross between threads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Scenario } from '../scenario.ts';
import { runSchedule } from './run.ts';
import { generateSchedule } from './schedule.ts';
import { loadChecker, type CheckerRef, type IndexResult } from './pool.ts';

export interface WorkerInit {
  scenario: Scenario;
  seed: string;
  checker: CheckerRef;
  modulePath?: readonly string[];
}

export async function serveWorker(): Promise<void> {
  const init = workerData as WorkerInit;
  const checker = await loadChecker(init.checker);
  const port = parentPort!;
  port.on('message', (index: number) => {
    const schedule = generateSchedule(init.scenario, BigInt(init.seed), index);
    runSchedule(init.scenario, schedule, checker, { modulePath: init.modulePath }).then(
      (outcome) => port.postMessage({ index, schedule, outcome } satisfies IndexResult),
      (e: Error) => port.postMessage({ index, error: `${e.name}: ${e.message}` }),
    );
  });
  port.postMessage('ready');
}
