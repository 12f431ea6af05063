// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket's processes: `spawn` starts a lab program as a user task with the pid its
 * client asks for (the client is the host process standing for the task, build/native/klp-spawn,
 * and gives its own pid), and the task's output and exit go back to that client as events on its
 * connection; `kill` signals a guest task as kill(2) does. The kernel side is src/kernel/exec.ts.
 */
import type { Socket } from 'node:net';
import { errnoName, strerror } from '../elf/index.ts';
import type { ProcessIo } from '../kernel/index.ts';
import { KernelFsError } from './kernelfs.ts';
import type { Lab } from './selftest.ts';

/** Where the output of a task goes when nobody listens (a journal's replay). */
export const DISCARD: ProcessIo = { output() {}, exit() {} };

/** A request field that is not what it must be: EINVAL for the client. */
export class ProcessRequestError extends KernelFsError {
  constructor(op: string, message: string) {
    super('EINVAL', op, message);
  }
}

function int(v: unknown, op: string, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ProcessRequestError(op, `field '${field}' must be a whole number`);
  return v;
}

/** spawn {file, argv, pid}: {pid}. The file must be absolute: the lab's directory is not the client's. */
export function spawnRequest(lab: Lab, req: { file?: unknown; argv?: unknown; pid?: unknown }, io: ProcessIo): { pid: number } {
  const file = req.file;
  if (typeof file !== 'string' || !file.startsWith('/')) throw new ProcessRequestError('spawn', "field 'file' must be an absolute path");
  const argv = req.argv ?? [file];
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string'))
    throw new ProcessRequestError('spawn', "field 'argv' must be an array of strings");
  return { pid: lab.k.processes.spawn(file, argv as string[], int(req.pid, 'spawn', 'pid'), io) };
}

/** kill {pid, sig}: {}; ESRCH for no such task, EINVAL for no such signal. */
export function killRequest(lab: Lab, req: { pid?: unknown; sig?: unknown }): Record<string, never> {
  const pid = int(req.pid, 'kill', 'pid');
  const ret = lab.kill(pid, int(req.sig, 'kill', 'sig'));
  if (ret < 0) throw new KernelFsError(errnoName(ret), `kill ${pid}`, strerror(ret));
  return {};
}

/** A spawned task's output and exit, as events on its client's connection. */
export class ProcessStream implements ProcessIo {
  private exited = false;

  constructor(
    private readonly socket: Socket,
    private readonly encode: (msg: Record<string, unknown>) => string,
    private readonly pid: unknown,
  ) {}

  output(fd: 1 | 2, data: Uint8Array): void {
    this.send({ event: 'output', fd, data: Buffer.from(data).toString('latin1') });
  }

  exit(status: number, signal: number): void {
    this.exited = true;
    this.send(signal ? { event: 'exit', status, signal } : { event: 'exit', status });
  }

  /** Calls `fn` if the connection closes while the task still runs. */
  onOrphaned(fn: () => void): void {
    if (this.socket.closed) {
      if (!this.exited) fn();
      return;
    }
    this.socket.once('close', () => {
      if (!this.exited) fn();
    });
  }

  private send(msg: Record<string, unknown>): void {
    if (this.socket.writable) this.socket.write(this.encode({ ...msg, pid: this.pid }));
  }
}
