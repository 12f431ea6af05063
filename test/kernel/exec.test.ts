// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host processes as guest user tasks (src/kernel/exec.ts): a program of one's own, built with
 * the lab's user C library (firmware/scripts/Makefile.user), spawned with a chosen pid; its
 * stdout, its signal handlers, its exit status, a taken pid or a file that is not a lab program
 * refused with nothing left behind, and the livepatched getpid seen by the tasks it runs as.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { ExecError, type ProcessIo } from '../../src/kernel/exec.ts';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import type { Lab } from '../../src/lab/selftest.ts';

const FIRMWARE = fileURLToPath(new URL('../../firmware', import.meta.url));
const IMAGE = fileURLToPath(new URL('../../fixtures/kernel.elf', import.meta.url));

/* prints its pid and arguments, calls getpid until SIGINT or SIGHUP, then says how often */
const PROGRAM = `
#include <stdio.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>

static volatile int stop;
static void on_int(int sig) { stop = sig; }

int main(int argc, char *argv[])
{
	long n = 0;
	int i;

	signal(SIGINT, on_int);
	signal(SIGHUP, on_int);
	printf("pid %d argc %d", (int)syscall(SYS_getpid), argc);
	for (i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\\n");
	while (!stop) {
		syscall(SYS_getpid);
		n++;
	}
	dprintf(2, "signal %d after %s calls\\n", stop, n > 0 ? "some" : "no");
	return stop == SIGHUP ? 3 : 0;
}
`;

let dir: string;
let prog: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'klp-exec-'));
  writeFileSync(join(dir, 'loop.c'), PROGRAM);
  prog = join(dir, 'loop');
  execFileSync('make', ['-s', '-C', FIRMWARE, '-f', 'scripts/Makefile.user', `PROG=${prog}`, `SRCS=${join(dir, 'loop.c')}`], {
    stdio: 'pipe',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const boot = useLab({ workload: 'idle', cpus: 2 }, { start: false });

/** What a spawned task wrote to its stdout (1) and stderr (2), and its exit code. */
function recorder(): ProcessIo & { out: string; err: string; code?: number; signal?: number } {
  const r = {
    out: '',
    err: '',
    code: undefined as number | undefined,
    signal: undefined as number | undefined,
    output(fd: 1 | 2, data: Uint8Array) {
      if (fd === 1) r.out += Buffer.from(data).toString();
      else r.err += Buffer.from(data).toString();
    },
    exit(code: number, signal: number) {
      r.code = code;
      r.signal = signal;
    },
  };
  return r;
}

function runUntil(lab: Lab, cond: () => boolean, ms = 2000): void {
  expect(lab.k.run({ ns: ms * 1e6, until: cond }).untilMet).toBe(true);
}

describe('user processes spawned by the host', () => {
  it('run with the pid asked for, write to their stdout and stderr, and exit through their handlers', async () => {
    const lab = await boot();
    const k = lab.k;
    const free = k.hostMem.bytesFree;
    const io = recorder();
    expect(k.processes.spawn(prog, ['./loop', 'a b', 'c'], 4321, io)).toBe(4321);
    runUntil(lab, () => io.out.endsWith('\n'));
    expect(io.out).toBe('pid 4321 argc 3 [./loop] [a b] [c]\n');
    const task = k.task(4321)!;
    expect(task.comm).toBe('loop');
    expect(task.isKthread).toBe(false);
    expect(k.processes.pids).toEqual([4321]);

    expect(lab.kill(4321, k.layout.constant('SIGINT'))).toBe(0);
    runUntil(lab, () => io.code !== undefined);
    expect(io.err).toBe(`signal ${k.layout.constant('SIGINT')} after some calls\n`);
    expect(io.code).toBe(0);
    runUntil(lab, () => k.task(4321) === undefined);
    // its image and argv went back when it exited
    expect(k.processes.pids).toEqual([]);
    expect(k.hostMem.bytesFree).toBe(free);

    // main's value is the exit status; a signal without a handler ends it with 128 + the signal
    const hup = recorder();
    k.processes.spawn(prog, ['loop'], 4322, hup);
    const term = recorder();
    k.processes.spawn(prog, ['loop'], 4323, term);
    runUntil(lab, () => hup.out !== '' && term.out !== '');
    lab.kill(4322, k.layout.constant('SIGHUP'));
    lab.kill(4323, k.layout.constant('SIGTERM'));
    runUntil(lab, () => hup.code !== undefined && term.code !== undefined);
    expect([hup.code, term.code]).toEqual([3, 128 + k.layout.constant('SIGTERM')]);
    // the handler's exit(3) is an exit; SIGTERM's default action is a death by that signal
    expect([hup.signal, term.signal]).toEqual([0, k.layout.constant('SIGTERM')]);
    expect(term.err).toBe('');
  });

  it('refuse a taken pid, a bad pid and a file that is not a lab program, leaving nothing behind', async () => {
    const lab = await boot();
    const k = lab.k;
    const io = recorder();
    k.processes.spawn(prog, ['loop'], 500, io);
    runUntil(lab, () => io.out !== '');
    const free = k.hostMem.bytesFree;
    const tasks = () => k.tasks().map((t) => `${t.pid} ${t.comm}`);
    const before = tasks();
    const khostd = k.tasks().find((t) => t.comm === 'khostd')!.pid;
    for (const [pid, file, errno, message] of [
      [500, prog, 'EEXIST', `${prog}: pid 500 is taken by a task of the lab`],
      [khostd, prog, 'EEXIST', `${prog}: pid ${khostd} is taken by a task of the lab`],
      [0, prog, 'EINVAL', `${prog}: pid 0 is not a positive pid`],
      [501, join(dir, 'none'), 'ENOENT', `${join(dir, 'none')}: No such file or directory`],
      [
        501,
        IMAGE,
        'ENOEXEC',
        `${IMAGE}: not a position-independent executable (link it with -static-pie, as firmware/scripts/Makefile.user does)`,
      ],
      [501, join(dir, 'loop.c'), 'ENOEXEC', undefined],
    ] as const) {
      let err: unknown;
      try {
        k.processes.spawn(file, ['x'], pid, recorder());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ExecError);
      expect((err as ExecError).errno).toBe(errno);
      if (message) expect((err as ExecError).message).toBe(message);
      expect(k.hostMem.bytesFree).toBe(free);
    }
    lab.k.runFor(20);
    expect(tasks()).toEqual(before);
  });

  it('user_task_spawn() refuses a taken pid itself, under tasklist_lock, as clone3 with set_tid does', async () => {
    const lab = await boot();
    const k = lab.k;
    const khostd = k.tasks().find((t) => t.comm === 'khostd')!.pid;
    const before = k.tasks().length;
    // the guest's own check, which the host's early one only spares a run of the machine
    function* spawnRaw(pid: number): HostTask<bigint> {
      return yield* callGuest(k.sym('user_task_spawn'), 0n, 0n, 0n, BigInt(pid));
    }
    expect(BigInt.asIntN(64, k.host.run('spawn', spawnRaw(khostd)))).toBe(-17n);
    expect(BigInt.asIntN(64, k.host.run('spawn', spawnRaw(-3)))).toBe(-22n);
    expect(k.tasks().length).toBe(before);
  });
});
