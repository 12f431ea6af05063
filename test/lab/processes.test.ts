// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket's spawn and kill (src/lab/processes.ts), as klp-spawn speaks them: the
// task's output and exit as events on the spawning connection, kill(2) of a guest task, the
// task killed when that connection closes first, and bad requests refused with their errno.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlServer } from '../../src/lab/control.ts';
import { RunningLab } from '../../src/lab/running.ts';

const FIRMWARE = fileURLToPath(new URL('../../firmware', import.meta.url));

/* echoes its argv, then calls getpid until SIGINT */
const PROGRAM = `
#include <stdio.h>
#include <signal.h>
#include <unistd.h>

static volatile int stop;
static void on_int(int sig) { stop = 1; }

int main(int argc, char *argv[])
{
	signal(SIGINT, on_int);
	printf("%s %s\\n", argv[0], argc > 1 ? argv[1] : "-");
	while (!stop)
		getpid();
	dprintf(2, "bye\\n");
	return 7;
}
`;

let dir: string;
let prog: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'klp-processes-'));
  writeFileSync(join(dir, 'p.c'), PROGRAM);
  prog = join(dir, 'p');
  execFileSync('make', ['-s', '-C', FIRMWARE, '-f', 'scripts/Makefile.user', `PROG=${prog}`, `SRCS=${join(dir, 'p.c')}`], {
    stdio: 'pipe',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

type Line = Record<string, unknown>;

/** A raw connection: every line the lab sends, answers and events alike. */
async function rawClient(
  path: string,
): Promise<{ socket: Socket; lines: Line[]; send(req: Line): void; until(pred: (l: Line) => boolean): Promise<Line> }> {
  const socket = createConnection(path);
  const lines: Line[] = [];
  let buf = '';
  socket.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Line);
      buf = buf.slice(nl + 1);
    }
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  open.push({ close: () => socket.destroy() });
  return {
    socket,
    lines,
    send: (req) => void socket.write(JSON.stringify(req) + '\n'),
    async until(pred) {
      for (let i = 0; i < 300; i++) {
        const l = lines.find(pred);
        if (l) return l;
        await sleep(20);
      }
      throw new Error(`no such line among ${JSON.stringify(lines)}`);
    },
  };
}

async function startLab(): Promise<{ r: RunningLab; server: ControlServer }> {
  const r = await RunningLab.start({ cpus: 2, workload: 'idle', pace: 'free' });
  open.push(r);
  const server = await ControlServer.listen(r);
  open.push(server);
  return { r, server };
}

describe('spawn and kill on the control socket', () => {
  it("streams the task's output and exit to the spawning connection; kill reaches its handler", async () => {
    const { r, server } = await startLab();
    const c = await rawClient(server.path);
    c.send({ id: 1, op: 'spawn', file: prog, argv: ['p', 'ü'], pid: 7777 });
    expect(await c.until((l) => l.id === 1)).toEqual({ id: 1, ok: true, pid: 7777 });
    // bytes travel as characters 0..255: the UTF-8 of the argument comes back as its two bytes
    const out = await c.until((l) => l.event === 'output' && l.fd === 1);
    expect(Buffer.from(out.data as string, 'latin1').toString('utf8')).toBe('p ü\n');
    expect(out.pid).toBe(7777);
    expect(r.lab.k.task(7777)?.comm).toBe('p');

    c.send({ id: 2, op: 'kill', pid: 7777, sig: r.lab.k.layout.constant('SIGINT') });
    expect(await c.until((l) => l.id === 2)).toEqual({ id: 2, ok: true });
    expect(await c.until((l) => l.event === 'output' && l.fd === 2)).toMatchObject({ data: 'bye\n' });
    expect(await c.until((l) => l.event === 'exit')).toEqual({ event: 'exit', status: 7, pid: 7777 });
    // the task is gone: a kill finds nobody
    c.send({ id: 3, op: 'kill', pid: 7777, sig: 15 });
    expect(await c.until((l) => l.id === 3)).toMatchObject({ ok: false, errno: 'ESRCH', strerror: 'No such process' });
    // both are journaled, so a replay spawns and kills the same task at the same instants
    expect(r.journal.map((j) => (j.request as { op: string }).op)).toEqual(['spawn', 'kill', 'kill']);
  });

  it('kills the task when the spawning connection closes first', async () => {
    const { r, server } = await startLab();
    const c = await rawClient(server.path);
    c.send({ id: 1, op: 'spawn', file: prog, argv: ['p'], pid: 4242 });
    await c.until((l) => l.event === 'output');
    c.socket.destroy();
    for (let i = 0; i < 300 && r.lab.k.task(4242); i++) await sleep(20);
    expect(r.lab.k.task(4242)?.comm).toBeUndefined();
    const exit = r.lab.k.log.events.find((e) => e.type === 'exit' && e.a === 4242);
    // a wait status, as the kernel keeps exit_code: the signal in the low bits
    expect(exit?.b).toBe(r.lab.k.layout.constant('SIGKILL'));
  });

  it('refuses bad requests with their errno, starting nothing', async () => {
    const { r, server } = await startLab();
    const c = await rawClient(server.path);
    const tasks = r.lab.k.tasks().length;
    const cases: [Line, string, RegExp][] = [
      [{ op: 'spawn', file: 'p', argv: ['p'], pid: 5000 }, 'EINVAL', /field 'file' must be an absolute path/],
      [{ op: 'spawn', file: prog, argv: [1], pid: 5000 }, 'EINVAL', /field 'argv' must be an array of strings/],
      [{ op: 'spawn', file: prog, argv: ['p'], pid: 'x' }, 'EINVAL', /field 'pid' must be a whole number/],
      [{ op: 'spawn', file: prog, argv: ['p'], pid: 1 }, 'EEXIST', /pid 1 is taken by a task of the lab/],
      [{ op: 'spawn', file: join(dir, 'p.c'), argv: ['p'], pid: 5000 }, 'ENOEXEC', /p\.c: /],
      [{ op: 'kill', pid: 5000, sig: 15 }, 'ESRCH', /kill 5000: No such process/],
      [{ op: 'kill', pid: 1, sig: 99 }, 'EINVAL', /kill 1: Invalid argument/],
    ];
    for (const [i, [req, errno, message]] of cases.entries()) {
      c.send({ id: i, ...req });
      const a = await c.until((l) => l.id === i);
      expect(a).toMatchObject({ ok: false, errno });
      expect(a.message).toMatch(message);
    }
    expect(r.lab.k.tasks().length).toBe(tasks);
  });
});
