// SPDX-License-Identifier: GPL-2.0-or-later
// Guest programs started from klp-lab shell as host processes are (klp-spawn): the kernel's own
// test_klp-call_getpid.c and a program of the test's, built for the guest. The pid the shell's
// $! gives is the guest task's, signals sent to the host process reach the task, its output
// comes out of the host process, and nothing stays behind when the lab goes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kernelSources } from '../../src/lab/index.ts';
import { KLP_SPAWN } from '../../src/cli/namespace.ts';
import { BIN, cli, ROOT } from './helpers.ts';

const SHELL = ['shell', '--cpus', '2', '--workload', 'idle'];
const FIRMWARE = join(ROOT, 'firmware');

/* says which pid getpid() gives it, then waits for a signal */
const WHOAMI = `
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void)
{
	printf("getpid %ld getppid %d\\n", syscall(SYS_getpid), getppid());
	for (;;)
		sleep(1);
}
`;

let dir: string;
/** Builds `name` for the guest from `source` into dir/name.guest, with klp-spawn as dir/name. */
function build(name: string, source: string): void {
  const src = join(dir, `${name}.c`);
  writeFileSync(src, source);
  execFileSync('make', ['-s', '-C', FIRMWARE, '-f', 'scripts/Makefile.user', `PROG=${join(dir, `${name}.guest`)}`, `SRCS=${src}`], {
    stdio: 'pipe',
  });
  copyFileSync(KLP_SPAWN, join(dir, name));
  execFileSync('chmod', ['755', join(dir, name)]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'klp-spawn-test-'));
  build('test_klp-call_getpid', readFileSync(join(kernelSources('6.12').selftests, 'test_klp-call_getpid.c'), 'utf8'));
  build('whoami', WHOAMI);
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The host's processes whose command line is `argv`. */
function processesRunning(argv: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
      if (cmd === `${argv} `) out.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('guest programs as host processes in klp-lab shell', () => {
  it("run as guest tasks whose pid is $!; kill -INT reaches the task's handler and its output comes out", async () => {
    const script = [
      'cd "$DIR"',
      './whoami > whoami.out & who=$!',
      './test_klp-call_getpid > getpid.out & getpid=$!',
      'until [ -s whoami.out ]; do sleep 0.05; done',
      'echo "whoami $who $(cat whoami.out)"',
      // the getpid loop is a guest task with pid $getpid: the patched getpid crosses it off
      `insmod ${ROOT}fixtures/test_klp_syscall.ko klp_pids=$getpid,$who`,
      'until grep -q "^1$" /sys/kernel/test_klp_syscall/npids; do sleep 0.05; done',
      'kill -INT $getpid; wait $getpid; echo "getpid status $?"',
      'kill $who; wait $who; echo "whoami status $?"',
      // the stand-in dies of the signal that ended the task (perl's $? is the raw wait status:
      // 15 for a death by SIGTERM, 143 << 8 for an exit with status 143)
      `perl -e 'my $p = open(my $fh, "-|", "./whoami") or die; <$fh>; kill "TERM", $p; close $fh; print "whoami wait status $?\\n"'`,
      'cat getpid.out',
      'echo 0 > /sys/kernel/livepatch/test_klp_syscall/enabled',
      'while [ -d /sys/kernel/livepatch/test_klp_syscall ]; do sleep 0.05; done',
      'rmmod test_klp_syscall',
    ].join('\n');
    const r = await cli([...SHELL, '-c', script], { env: { ...process.env, DIR: dir } });
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    const who = /^whoami (\d+) getpid (\d+) getppid (\d+)$/.exec(lines[0]);
    expect(who, lines[0]).not.toBeNull();
    // the guest's getpid() is the host process's pid, as $! gave it (the lab's khostd spawned it)
    expect(who![2]).toBe(who![1]);
    expect(Number(who![1])).toBeGreaterThan(1000);
    expect(lines.slice(1, 4)).toEqual(['getpid status 0', `whoami status ${128 + 15}`, 'whoami wait status 15']);
    expect(lines[4]).toMatch(/^\d+ iterations done$/);
    expect(Number(lines[4].split(' ')[0])).toBeGreaterThan(0);
    expect(r.status).toBe(0);
  }, 300_000);

  it('refuses a pid a guest task has, naming it', async () => {
    const req = { op: 'spawn', file: join(dir, 'whoami.guest'), argv: ['whoami'], pid: 1 };
    const js = `const s=require('net').createConnection(process.env.KLP_SOCKET);s.on('data',d=>{process.stdout.write(String(d));s.end()});s.write(${JSON.stringify(JSON.stringify(req))}+'\\n')`;
    const r = await cli([...SHELL, '-c', `${JSON.stringify(process.execPath)} -e '${js.replace(/'/g, `'\\''`)}'`]);
    const reply = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(reply).toMatchObject({ ok: false, errno: 'EEXIST', strerror: 'File exists' });
    expect(reply.message).toBe(`${join(dir, 'whoami.guest')}: pid 1 is taken by a task of the lab`);
    // klp-spawn says what the lab said, with the status bash gives a program it cannot run
    const n = await cli([...SHELL, '-c', `${KLP_SPAWN} ${join(dir, 'whoami.c')}`]);
    expect(n.stderr).toMatch(/^.*klp-spawn: cannot run in the lab: .*whoami\.c: /);
    expect(n.status).toBe(126);
  }, 120_000);

  it('leaves no klp-spawn behind when klp-lab is killed', async () => {
    const ready = join(dir, 'ready');
    let child: ChildProcess | undefined;
    try {
      const script = `cd "$DIR"; ./whoami > w.out & until [ -s w.out ]; do sleep 0.05; done; echo > ${ready}; sleep 1000`;
      child = spawn(process.execPath, [BIN, ...SHELL, '-c', script], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, DIR: dir } });
      for (let i = 0; i < 600; i++) {
        try {
          readFileSync(ready);
          break;
        } catch {
          await sleep(100);
        }
      }
      expect(processesRunning('./whoami')).toHaveLength(1);
      child.kill('SIGKILL');
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        await sleep(100);
        left = processesRunning('./whoami');
        if (!left.length) break;
      }
      expect(left).toEqual([]);
    } finally {
      child?.kill('SIGKILL');
    }
  }, 120_000);
});
