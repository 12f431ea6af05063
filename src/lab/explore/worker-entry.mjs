// SPDX-License-Identifier: GPL-2.0-or-later
// A campaign's worker thread: registers tsx's loader in this thread (a worker inherits no
// loader) and hands the thread to worker.ts, which runs the schedules it is sent.
import { register } from 'tsx/esm/api';

register();
const { serveWorker } = await import(new URL('./worker.ts', import.meta.url).href);
await serveWorker();
