// SPDX-License-Identifier: GPL-2.0-or-later
// Debian's gdb, in batch mode, against `klp-lab boot|livepatch --gdb 0` (src/gdb/): threads,
// backtraces through the firmware's frames (the helper's ORC unwinder), breakpoints on a patched
// function before and after the transition with the fentry site's bytes untouched, a watchpoint
// on a task's patch_state and reverse execution back to its previous write, and the replay of a
// violation the explorer found. Each session under
// gdb must end with the same event log as the same session without it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = `${ROOT}bin/klp-lab.mjs`;
const HELPER = `${ROOT}gdb/klp-lab.py`;
const HAVE_GDB = spawnSync('gdb', ['--version']).status === 0;

interface Result {
  lab: string;
  labStatus: number | null;
  gdb: string;
}

/** Runs the lab with --gdb 0, then gdb with `commands` against it once it listens. */
function debugSession(labArgs: string[], commands: string[], python = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const lab = spawn(process.execPath, [CLI, ...labArgs, '--gdb', '0'], { cwd: ROOT });
    let labOut = '';
    let labErr = '';
    let gdbOut = '';
    let labStatus: number | null = null;
    let gdbDone = false;
    let labDone = false;
    const finish = () => labDone && gdbDone && resolve({ lab: labOut, labStatus, gdb: gdbOut });
    const timer = setTimeout(() => {
      lab.kill('SIGKILL');
      reject(new Error(`timed out; lab stderr: ${labErr}\ngdb: ${gdbOut}`));
    }, 100_000);
    lab.stdout.on('data', (d) => (labOut += d));
    lab.on('exit', (code) => {
      labStatus = code;
      labDone = true;
      clearTimeout(timer);
      finish();
    });
    lab.stderr.on('data', (d) => {
      labErr += d;
      const m = /waiting for gdb on ([\d.]+:\d+)/.exec(labErr);
      if (!m || gdbOut || gdbDone) return;
      gdbOut = ' ';
      const args = [
        '-batch',
        '-nx',
        '-x',
        HELPER,
        '-ex',
        'set pagination off',
        '-ex',
        'set confirm off',
        '-ex',
        'set remotetimeout 60',
        '-ex',
        `klp-lab-connect ${m[1]}`,
      ];
      if (python) args.push('-ex', `python ${python}`);
      for (const c of commands) args.push('-ex', c);
      args.push('-ex', 'detach');
      const gdb = spawn('gdb', args, { cwd: ROOT });
      gdb.stdout.on('data', (d) => (gdbOut += d));
      gdb.stderr.on('data', (d) => (gdbOut += d));
      gdb.on('exit', () => {
        gdbDone = true;
        finish();
      });
    });
  });
}

function plainSession(labArgs: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...labArgs], { cwd: ROOT, encoding: 'utf8' });
  return r.stdout;
}

const sha = (report: string) => /event log sha256 ([0-9a-f]{64})/.exec(report)?.[1];

/** gdb's text from the first line matching `from` on. */
function after(text: string, from: RegExp): string {
  const i = text.search(from);
  return i < 0 ? '' : text.slice(i);
}

describe('gdb on the vCPUs', () => {
  it('has gdb to drive', () => {
    if (!HAVE_GDB) throw new Error("gdb is not installed: `bash scripts/bootstrap.sh` installs Debian's gdb");
  });

  it('debugs the replay of a violation the explorer found: threads, a step back, and the same run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'klp-gdb-replay-'));
    try {
      const file = join(dir, 'fork.replay.json');
      const found = spawnSync(process.execPath, [CLI, 'explore', '--quirk', 'fork-race', '--runs', '1', '--out', file], { cwd: ROOT });
      expect(found.status).toBe(1);
      const r = await debugSession(['replay', file], ['info threads', 'stepi', 'stepi', 'reverse-stepi', 'monitor position']);
      expect(r.gdb).toMatch(/\* 1 +Thread 1 \(cpu0 \(/);
      expect(r.gdb).toMatch(/ 4 +Thread 4 \(cpu3 \(/);
      // two steps forward and one back: the address of the first step again, by a replay
      const pcs = [...r.gdb.matchAll(/^(0x[0-9a-f]+) in \S+ \(\)$/gm)].map((m) => m[1]);
      expect(pcs.length).toBeGreaterThanOrEqual(4);
      expect(pcs.at(-1)).toBe(pcs.at(-3));
      expect(r.gdb).toMatch(/replays [1-9]/);
      // detached, the replay runs on to its end: the recorded run, bit for bit, and its violation
      expect(r.lab).toMatch(/the recorded one, bit for bit\nviolation: pending-mismatch/);
      expect(r.labStatus).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every vCPU as a thread and backtraces through the firmware to ret_from_fork', async () => {
    const args = ['boot', '--cpus', '3', '--ms', '60'];
    const r = await debugSession(args, ['break schedule', 'continue', 'info threads', 'bt', 'monitor help']);
    expect(r.gdb).toMatch(/hit Breakpoint 1, 0x[0-9a-f]+ in schedule \(\)/);
    for (let cpu = 0; cpu < 3; cpu++) expect(r.gdb).toMatch(new RegExp(`Thread ${cpu + 1} \\(cpu${cpu} \\([^:]+:\\d+\\)\\)`));
    const bt = after(r.gdb, /^#0 /m);
    expect(bt).toMatch(/#0 .* in schedule \(\)/);
    expect(bt).toMatch(/#\d+ .* in kthread \(\)/);
    expect(bt).toMatch(/#\d+ .* in ret_from_fork \(\)/);
    expect(r.gdb).toMatch(/klp-lab monitor commands:[\s\S]*stack/);
    expect(r.labStatus).toBe(0);
    // the run under gdb is the run without it
    expect(sha(r.lab)).toBe(sha(plainSession(args)));
  });

  it("steps from a user task's int $0x80 into the kernel's entry: the system call is made, not skipped", async () => {
    // the first `int $0x80` of hammer() (an inlined system call stub) in the image the lab boots
    const dis = spawnSync('objdump', ['-d', '--section=.user.text', `${ROOT}fixtures/kernel.elf`], { encoding: 'utf8' }).stdout;
    const hammer = dis.slice(dis.indexOf('<hammer>:'));
    const at = /^\s*([0-9a-f]+):\s+cd 80\s+int\s+\$0x80/m.exec(hammer)?.[1];
    expect(at).toBeDefined();
    const args = ['boot', '--cpus', '2', '--ms', '300'];
    const r = await debugSession(args, [`break *0x${at}`, 'continue', 'delete', 'stepi', 'x/i $pc']);
    expect(r.gdb).toMatch(new RegExp(`hit Breakpoint 1, 0x${at} in hammer \\(\\)`));
    expect(after(r.gdb, /hit Breakpoint 1/)).toMatch(/^=> 0x[0-9a-f]+ <entry_INT80>:/m);
    expect(r.labStatus).toBe(0);
    expect(sha(r.lab)).toBe(sha(plainSession(args)));
  });

  it('stops in the old cmdline_proc_show before the transition and in the new one after, its site bytes untouched', async () => {
    const args = ['livepatch', '--cpus', '2', 'cat:cmdline_proc_show', 'load:test_klp_livepatch', 'cat:cmdline_proc_show'];
    const r = await debugSession(args, [
      'break cmdline_proc_show',
      'continue',
      'echo STOP1\\n',
      'x/5xb $pc',
      'monitor sysfs /sys/kernel/livepatch',
      'continue',
      'echo STOP2\\n',
      'x/5xb $pc',
      'klp-lab-symbols',
      'break livepatch_cmdline_proc_show',
      'continue',
      'echo STOP3\\n',
      'bt',
      'monitor sysfs /sys/kernel/livepatch/test_klp_livepatch/enabled',
    ]);
    const [, stop1, stop2, stop3] = r.gdb.split(/STOP\d\n/);
    // before the patch: the old function, its fentry site still the 5-byte NOP the image has,
    // although a breakpoint sits on it (gdb never wrote an int3 there)
    expect(r.gdb.split('STOP1')[0]).toMatch(/hit Breakpoint 1, 0x[0-9a-f]+ in cmdline_proc_show \(\)/);
    expect(stop1).toMatch(/<cmdline_proc_show>:\s+0x0f\s+0x1f\s+0x44\s+0x00\s+0x00/);
    // ftrace's check of the site passed: the load went through, the site now calls the trampoline
    expect(stop2).toMatch(/<cmdline_proc_show>:\s+0xe8/);
    expect(stop2).toMatch(/klp-lab: test_klp_livepatch: symbols of .*test_klp_livepatch\.ko/);
    // after the transition the call lands in the patch's function
    expect(stop2).toMatch(/hit Breakpoint 2, 0x[0-9a-f]+ in livepatch_cmdline_proc_show \(\)/);
    expect(stop3).toMatch(/^1$/m); // enabled
    expect(r.lab).toContain('test_klp_livepatch: this has been live patched');
    expect(r.labStatus).toBe(0);
    expect(sha(r.lab)).toBe(sha(plainSession(args)));
  });

  it('a watchpoint on patch_state stops at the transition writing it; reverse-continue goes back to the previous write', async () => {
    const args = ['livepatch', '--cpus', '2', 'load:test_klp_livepatch'];
    const watch =
      'import re; o = gdb.execute("monitor task kdeep/0", to_string=True); ' +
      'gdb.execute("watch *(int *)" + re.search(r"patch_state (0x[0-9a-f]+)", o).group(1))';
    const r = await debugSession(
      args,
      ['continue', 'continue', 'echo SWITCHED\\n', 'reverse-continue', 'echo BACK\\n', 'monitor position', 'continue', 'continue'],
      watch,
    );
    const [init, switched, back] = r.gdb.split(/SWITCHED\n|BACK\n/);
    // klp_init_transition sets every task's state; the pass then switches kdeep/0
    expect(init).toMatch(/the host wrote 0x[0-9a-f]+ \(4 bytes\) in KlpTransition\.setPatchState <- KlpTransition\.initTransition/);
    expect(init).toMatch(/Old value = -1\nNew value = 0/);
    expect(init).toMatch(/KlpTransition\.trySwitchTask[\s\S]*Old value = 0\nNew value = 1/);
    // going back from the switch reaches the write before it, by replaying the session
    expect(switched).toMatch(/KlpTransition\.initTransition[\s\S]*Old value = 1\nNew value = 0/);
    expect(back).toMatch(/replays [1-9]/);
    // and forward again: the switch, then klp_complete_transition's reset of every task's state
    expect(back).toMatch(/trySwitchTask[\s\S]*Old value = 0\nNew value = 1[\s\S]*resetTaskStates[\s\S]*Old value = 1\nNew value = -1/);
    expect(r.labStatus).toBe(0);
    expect(sha(r.lab)).toBe(sha(plainSession(args)));
  });

  it("a watchpoint on jiffies stops after the guest's write; reverse execution goes back to the tick before and its store", async () => {
    const args = ['boot', '--cpus', '2', '--ms', '100'];
    const r = await debugSession(args, [
      'watch *(long *)&jiffies',
      'continue',
      'continue',
      'echo TICK2\\n',
      'bt',
      'reverse-continue',
      'echo BACK\\n',
      'reverse-stepi',
      'x/i $pc',
    ]);
    const [ticks, tick2, back] = r.gdb.split(/TICK2\n|BACK\n/);
    expect(ticks).toMatch(/Old value = 0\nNew value = 1\n0x[0-9a-f]+ in tick_handle_periodic \(\)/);
    expect(ticks).toMatch(/Old value = 1\nNew value = 2\n0x[0-9a-f]+ in tick_handle_periodic \(\)/);
    // through the interrupt's pt_regs down to the interrupted task's first frame
    expect(tick2).toMatch(/in do_IRQ \(\)[\s\S]* in asm_common_interrupt \(\)[\s\S]* in ret_from_fork \(\)/);
    // gdb, going back over the second tick's write, shows the values the other way round
    expect(tick2).toMatch(/Old value = 2\nNew value = 1/);
    // one instruction back: the store to jiffies itself
    expect(back).toMatch(/=> 0x[0-9a-f]+ <tick_handle_periodic\+\d+>:\s+mov\s+%\w+,.*<jiffies>/);
    expect(r.labStatus).toBe(0);
    expect(sha(r.lab)).toBe(sha(plainSession(args)));
  });

  it('reverse execution from checkpoints gives what replays from boot give, emulating less', async () => {
    const args = ['boot', '--cpus', '2', '--ms', '100'];
    const commands = [
      'watch *(long *)&jiffies',
      'continue',
      'continue',
      'reverse-continue',
      'echo BACK\\n',
      'reverse-stepi',
      'x/i $pc',
      'monitor position',
      'reverse-continue',
    ];
    // every replay from boot, then with a checkpoint at the end of every round
    const [none, every] = await Promise.all([0, 1].map((n) => debugSession([...args, '--gdb-checkpoints', String(n)], commands)));
    const cost = (r: Result) =>
      /checkpoints (\d+) .* re-ran (\d+) instructions after boot and skipped (\d+) \((\d+) checkpoints restored\)/.exec(r.gdb);
    const [, ck0, reran0, , restored0] = cost(none)!.map(Number);
    const [, ck1, reran1, skipped1, restored1] = cost(every)!.map(Number);
    expect([ck0, restored0]).toEqual([0, 0]);
    // reverse-stepi went on from a checkpoint: fewer instructions emulated again
    expect(ck1).toBeGreaterThan(0);
    expect(restored1).toBeGreaterThan(0);
    expect(skipped1).toBeGreaterThan(0);
    expect(reran1).toBeLessThan(reran0);
    // and gdb saw the same: the store to jiffies, then the start of the run
    const seen = (r: Result) => after(r.gdb, /Hardware watchpoint 1/).replace(/^(instructions|checkpoints|replays) .*\n/gm, '');
    expect(seen(every)).toBe(seen(none));
    expect(after(every.gdb, /BACK/)).toMatch(/=> 0x[0-9a-f]+ <tick_handle_periodic\+\d+>:\s+mov\s+%\w+,.*<jiffies>/);
    expect(every.gdb).toMatch(/No more reverse-execution history/);
    expect(sha(every.lab)).toBe(sha(none.lab));
    expect(every.labStatus).toBe(0);
  });

  it('reverse-stepi undoes stepi instruction by instruction, on the same thread', async () => {
    const r = await debugSession(
      ['boot', '--cpus', '2', '--ms', '40'],
      [
        'break schedule',
        'continue',
        'delete',
        'stepi',
        'stepi',
        'echo A=\\n',
        'p/x $pc',
        'p/x $rsp',
        'thread',
        'stepi',
        'stepi',
        'reverse-stepi',
        'reverse-stepi',
        'echo B=\\n',
        'p/x $pc',
        'p/x $rsp',
        'thread',
      ],
    );
    const values = (part: string) => [...part.matchAll(/= (0x[0-9a-f]+)/g)].map((m) => m[1]);
    const [, a, b] = r.gdb.split(/[AB]=\n/);
    expect(values(a)).toHaveLength(2);
    expect(values(b).slice(0, 2)).toEqual(values(a));
    const thread = (part: string) => /Current thread is (\d+)/.exec(part)?.[1];
    expect(thread(b)).toBeDefined();
    expect(thread(b)).toBe(thread(a));
    expect(r.labStatus).toBe(0);
  });
});
