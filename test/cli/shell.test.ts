// SPDX-License-Identifier: GPL-2.0-or-later
// `klp-lab shell`: ordinary programs in a bash whose /sys, /proc files and /dev/kmsg are the
// running lab's, in private namespaces -- the host's own files untouched, nothing left mounted
// or running afterwards, even after kill -9 of klp-lab; and the interactive bash under tmux.
import { describe, expect, it, vi } from 'vitest';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, BIN, ROOT } from './helpers.ts';
import { RunningLab } from '../../src/lab/running.ts';
import { ControlServer } from '../../src/lab/control.ts';
import { normalizePath } from '../../src/lab/kernelfs.ts';
import { runInLabNamespace } from '../../src/cli/namespace.ts';

const SHELL = ['shell', '--cpus', '2', '--workload', 'idle'];

/** A line of JS run with node inside the shell: sends one request to the lab and prints the answer. */
function labRequest(req: object): string {
  const js = `const s=require('net').createConnection(process.env.KLP_SOCKET);s.on('data',d=>{process.stdout.write(String(d));s.end()});s.write(${JSON.stringify(JSON.stringify(req))}+'\\n')`;
  return `${JSON.stringify(process.execPath)} -e ${shellQuote(js)} >/dev/null`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The host's processes whose command line contains `needle`. */
function processesWith(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
      if (cmd.includes(needle) && Number(pid) !== process.pid) out.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function hostDmesg(): string {
  return spawnSync('dmesg', { encoding: 'utf8' }).stdout;
}

describe('klp-lab shell -c', () => {
  // a script of one's own: load a patch, poll transition, read sysfs and /proc, grep dmesg
  it("shows the lab's /sys/kernel/livepatch, /proc/cmdline and cpus to ordinary programs", async () => {
    const patch = '/sys/kernel/livepatch/test_klp_livepatch';
    const script = [
      `insmod ${ROOT}fixtures/test_klp_livepatch.ko`,
      `while [ "$(cat ${patch}/transition)" != 0 ]; do sleep 0.1; done`,
      `dmesg | grep -o "livepatch: 'test_klp_livepatch': patching complete"`,
      `cat ${patch}/enabled`,
      `stat --format '%A %n' ${patch} ${patch}/enabled ${patch}/force ${patch}/transition`,
      `cat ${patch}/force 2>&1 || true`,
      'cat /proc/cmdline',
      'echo 0 > /sys/devices/system/cpu/cpu1/online',
      'cat /sys/devices/system/cpu/online',
      'getconf _NPROCESSORS_ONLN',
      `echo 0 > ${patch}/enabled`,
      `while [ -e ${patch} ]; do sleep 0.1; done`,
      'cat /proc/cmdline',
      'ls /sys/kernel/livepatch | wc -l',
      `dmesg | grep -o "livepatch: 'test_klp_livepatch': unpatching complete"`,
    ].join('\n');
    const hostCmdline = readFileSync('/proc/cmdline', 'utf8');
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        "livepatch: 'test_klp_livepatch': patching complete",
        '1',
        `drwxr-xr-x ${patch}`,
        `-rw-r--r-- ${patch}/enabled`,
        `--w------- ${patch}/force`,
        `-r--r--r-- ${patch}/transition`,
        `cat: ${patch}/force: Permission denied`,
        'test_klp_livepatch: this has been live patched',
        '0',
        '1',
        'klp-lab workload=idle nr_cpus=2',
        '0',
        "livepatch: 'test_klp_livepatch': unpatching complete",
        '',
      ].join('\n'),
    );
    expect(r.status).toBe(0);
    expect(readFileSync('/proc/cmdline', 'utf8')).toBe(hostCmdline);
  }, 60_000);

  it("writes to /dev/kmsg land in the lab's log, which cat /dev/kmsg and dmesg read; the host's log stays as it was", async () => {
    const marker = `klp-lab-shell-test-${process.pid}-${Date.now()}`;
    const script = [
      `echo ${marker} > /dev/kmsg`,
      `echo '<3>${marker} level 3' > /dev/kmsg`,
      `dmesg | grep ${marker}`,
      // a reader of /dev/kmsg from the start: the lab's first record, and ours, as records
      `timeout 2 cat /dev/kmsg | grep -e 'Linux-like lab kernel booting' -e ${marker} | sed 's/^\\([0-9]*\\),[0-9]*,[0-9]*,/\\1,SEQ,USEC,/'`,
    ].join('\n');
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\[ {4}\\d\\.\\d{6}\\] ${marker}$`));
    expect(lines[1]).toMatch(new RegExp(`^\\[ {4}\\d\\.\\d{6}\\] ${marker} level 3$`));
    expect(lines.slice(2)).toEqual([
      '5,SEQ,USEC,-;Linux-like lab kernel booting on 2 cpus, HZ=100, preempt=none',
      `12,SEQ,USEC,-;${marker}`,
      `11,SEQ,USEC,-;${marker} level 3`,
    ]);
    expect(hostDmesg()).not.toContain(marker);
  }, 60_000);

  it('passes the status of the command on, and refuses bad options before booting', async () => {
    expect((await cli([...SHELL, '-c', 'exit 7'])).status).toBe(7);
    const r = await cli(['shell', '--pace', 'fast', '-c', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/option '--pace <X>' argument 'fast' is invalid\. It must be a positive number/);
  }, 60_000);

  it('ends when a client asks the lab to stop, with status 0', async () => {
    const r = await cli([...SHELL, '-c', `${labRequest({ op: 'stop' })}; sleep 30; echo not reached`]);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it("shows a guest oops in dmesg; the lab's files fail with EIO after it", async () => {
    const script = ['modprobe lab_mod_oops crash=1', 'cat /proc/cmdline', "dmesg | grep -e '^\\[.*\\] BUG:' -e 'Modules linked in'"].join(
      '\n',
    );
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stdout).toMatch(
      /^\[ *[\d.]+\] BUG: unable to handle page fault for address: 0000000000000000\n\[ *[\d.]+\] Modules linked in: lab_mod_oops\n$/,
    );
    // klp-lab's line and modprobe's come from two processes: their order is not fixed
    expect(r.stderr.split('\n').sort()).toEqual([
      '',
      'cat: /proc/cmdline: Input/output error',
      expect.stringMatching(
        /^klp-lab: the lab has stopped: cpu \d: page fault: write to an unmapped address at address 0x0 \(rip 0x[0-9a-f]+\)$/,
      ),
      "modprobe: ERROR: could not insert 'lab_mod_oops': Input/output error",
    ]);
  }, 60_000);

  it('leaves no process and no mount behind after kill -9 of klp-lab', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'klp-shell-test-'));
    const token = `klp-kill-test-${process.pid}-${Date.now()}`;
    let child: ChildProcess | undefined;
    try {
      const ready = join(dir, 'ready');
      // the token comes through the environment, so that only the two sleeps carry it
      const script = `echo "$KLP_SOCKET" > ${ready}; (exec -a "$TOKEN-bg" sleep 1000) & exec -a "$TOKEN-fg" sleep 1000`;
      const env = { ...process.env, TOKEN: token };
      child = spawn(process.execPath, [BIN, ...SHELL, '-c', script], { cwd: ROOT, stdio: 'ignore', env });
      let socket = '';
      for (let i = 0; i < 300 && !socket; i++) {
        await sleep(100);
        try {
          socket = readFileSync(ready, 'utf8').trim();
        } catch {
          // not yet
        }
      }
      expect(socket).toMatch(/\/klp-lab-\d+-\w{6}\/control$/);
      const runtime = socket.replace(/\/control$/, '');
      await sleep(200);
      expect(processesWith(`${token}-bg`)).toHaveLength(1);
      expect(processesWith(`${token}-fg`)).toHaveLength(1);
      expect(processesWith(runtime).length).toBeGreaterThan(0); // the FUSE helper
      child.kill('SIGKILL');
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        await sleep(100);
        left = [...processesWith(token), ...processesWith(runtime)];
        if (!left.length) break;
      }
      expect(left).toEqual([]);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('klp-lab');
      // the runtime directory is all that kill -9 leaves: the next lab removes it
      expect(existsSync(runtime)).toBe(true);
      expect((await cli([...SHELL, '-c', 'true'])).status).toBe(0);
      expect(existsSync(runtime)).toBe(false);
    } finally {
      child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the module commands in klp-lab shell', () => {
  // kmod 30's texts and statuses, as the real insmod, rmmod and lsmod print them
  it('insmod, lsmod and rmmod act on the lab, with kmod texts', async () => {
    const F = `${ROOT}fixtures`;
    const script = [
      'type -P insmod rmmod lsmod | sed "s#^$KLP_PATH/##"',
      `insmod ${F}/test_klp_livepatch.ko; echo "insmod $?"`,
      `insmod ${F}/lab_mod_hello.ko hello_base=5; echo "insmod $?"`,
      'lsmod',
      'cat /sys/module/lab_mod_hello/parameters/hello_base',
      'rmmod test_klp_livepatch; echo "rmmod $?"',
      'rmmod lab_mod_hello; echo "rmmod $?"',
      'rmmod lab_mod_hello; echo "rmmod $?"',
      `insmod ${F}/test_klp_livepatch.ko; echo "insmod $?"`,
      // the second patch must find no transition in progress, or it is refused with EBUSY first
      'while [ "$(cat /sys/kernel/livepatch/test_klp_livepatch/transition)" != 0 ]; do sleep 0.05; done',
      `insmod ${F}/test_klp_callbacks_demo.ko pre_patch_ret=-19; echo "insmod $?"`,
      `insmod ${F}/test_klp_bad_unmarked.ko; echo "insmod $?"`,
      `insmod ${F}/lab_mod_hello.ko nosuch=1; echo "insmod $?"`,
      'insmod /nonexistent.ko; echo "insmod $?"',
      'insmod; echo "insmod $?"',
      'rmmod; echo "rmmod $?"',
      'dmesg | grep -c "livepatch: .test_klp_livepatch.: patching complete"',
    ].join('\n');
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stdout.split('\n')).toEqual([
      'insmod',
      'rmmod',
      'lsmod',
      'insmod 0',
      'insmod 0',
      'Module                  Size  Used by',
      expect.stringMatching(/^lab_mod_hello {7}[ \d]{8}  0$/),
      expect.stringMatching(/^test_klp_livepatch  [ \d]{8}  1$/),
      '5',
      'rmmod 1',
      'rmmod 0',
      'rmmod 1',
      'insmod 1',
      'insmod 1',
      'insmod 1',
      'insmod 1',
      'insmod 1',
      'insmod 1',
      'rmmod 1',
      '1',
      '',
    ]);
    expect(r.stderr.split('\n')).toEqual([
      'rmmod: ERROR: Module test_klp_livepatch is in use',
      'rmmod: ERROR: Module lab_mod_hello is not currently loaded',
      `insmod: ERROR: could not insert module ${F}/test_klp_livepatch.ko: File exists`,
      `insmod: ERROR: could not insert module ${F}/test_klp_callbacks_demo.ko: No such device`,
      `insmod: ERROR: could not insert module ${F}/test_klp_bad_unmarked.ko: Invalid parameters`,
      `insmod: ERROR: could not insert module ${F}/lab_mod_hello.ko: Unknown symbol in module`,
      'insmod: ERROR: could not load module /nonexistent.ko: No such file or directory',
      'insmod: ERROR: missing filename.',
      'rmmod: ERROR: missing module name.',
      '',
    ]);
    expect(r.status).toBe(0);
  }, 60_000);
});

describe('the module commands, native', () => {
  // the selftest scripts run them by the hundred: each is a program of its own, needing no
  // interpreter from PATH (a Node process took 0.1-0.2 s to start, the whole of a command's time)
  it('run with nothing but themselves on PATH', async () => {
    const script = [
      'env PATH="$KLP_PATH" modprobe test_klp_livepatch; echo "modprobe $?"',
      'env PATH="$KLP_PATH" modinfo -F livepatch test_klp_livepatch; echo "modinfo $?"',
      'env PATH="$KLP_PATH" lsmod | cut -c1-19; echo "lsmod $?"',
      'env PATH="$KLP_PATH" rmmod test_klp_livepatch; echo "rmmod $?"',
      'env PATH="$KLP_PATH" insmod /nonexistent.ko; echo "insmod $?"',
    ].join('\n');
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stdout.split('\n')).toEqual([
      'modprobe 0',
      'Y',
      'modinfo 0',
      'Module             ',
      'test_klp_livepatch ',
      'lsmod 0',
      'rmmod 1',
      'insmod 1',
      '',
    ]);
    expect(r.stderr).toBe(
      'rmmod: ERROR: Module test_klp_livepatch is in use\ninsmod: ERROR: could not load module /nonexistent.ko: No such file or directory\n',
    );
  }, 60_000);
});

describe('modinfo in klp-lab shell', () => {
  // the texts kmod 30's modinfo prints for the same files
  it("prints an object's .modinfo as kmod's modinfo does", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'klp-modinfo-'));
    try {
      for (const m of ['test_klp_syscall', 'lab_mod_hello']) writeFileSync(join(dir, `${m}.ko`), readFileSync(`${ROOT}fixtures/${m}.ko`));
      const script = [
        'modinfo ./test_klp_syscall.ko lab_mod_hello.ko',
        'modinfo -F livepatch ./test_klp_syscall.ko',
        'modinfo x; echo "modinfo $?"',
        'modinfo; echo "modinfo $?"',
      ].join('\n');
      const r = await cli([...SHELL, '-c', script], { cwd: dir });
      expect(r.stdout).toBe(
        [
          `filename:       ${dir}/./test_klp_syscall.ko`,
          'livepatch:      Y',
          'description:    Livepatch test: syscall transition',
          'license:        GPL',
          'parmnum:        klp_pids:&npids_pending',
          'parmperm:       klp_pids:0',
          'vermagic:       6.1.0-klp-lab SMP mod_unload',
          'name:           test_klp_syscall',
          'parm:           klp_pids:Array of pids to be transitioned to livepatched state. (array of int)',
          `filename:       ${dir}/lab_mod_hello.ko`,
          'parmperm:       hello_base:0444',
          'description:    lab: hello, a plain loadable module',
          'license:        GPL',
          'vermagic:       6.1.0-klp-lab SMP mod_unload',
          'name:           lab_mod_hello',
          'parm:           hello_base:long',
          'Y',
          'modinfo 1',
          'modinfo 1',
          '',
        ].join('\n'),
      );
      expect(r.stderr).toBe('modinfo: ERROR: Module x not found.\nmodinfo: ERROR: missing module or filename.\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('modprobe in klp-lab shell', () => {
  it('loads a module by name from $KLP_MODULE_PATH (the fixtures by default), with kmod texts', async () => {
    const script = [
      'modprobe test_klp_callbacks_demo pre_patch_ret=-22; echo "modprobe $?"',
      'modprobe --dry-run test_klp_livepatch; echo "modprobe $?"',
      'modprobe test_klp_livepatch; echo "modprobe $?"',
      'modprobe test_klp_livepatch; echo "modprobe $?"',
      'modprobe nosuch; echo "modprobe $?"',
      'modprobe -q nosuch; echo "modprobe $?"',
      'modprobe lab_mod_hello nosuch=1; echo "modprobe $?"',
      'cat /sys/module/test_klp_livepatch/refcnt',
    ].join('\n');
    const r = await cli([...SHELL, '-c', script]);
    expect(r.stdout).toBe(
      ['modprobe 1', 'modprobe 0', 'modprobe 0', 'modprobe 0', 'modprobe 1', 'modprobe 1', 'modprobe 1', '1', ''].join('\n'),
    );
    expect(r.stderr).toBe(
      [
        "modprobe: ERROR: could not insert 'test_klp_callbacks_demo': Invalid argument",
        `modprobe: FATAL: Module nosuch not found in directory ${ROOT}fixtures`,
        "modprobe: ERROR: could not insert 'lab_mod_hello': Unknown symbol in module, or unknown parameter (see dmesg)",
        '',
      ].join('\n'),
    );
  }, 60_000);
});

describe('klp-lab shell, interactive', () => {
  it('is a bash on a terminal (tmux) with the lab behind /proc and /sys', async () => {
    const server = `klp-lab-test-${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
    const rcdir = mkdtempSync(join(tmpdir(), 'klp-home-'));
    writeFileSync(join(rcdir, '.bashrc'), '');
    const screen = () => tmux('capture-pane', '-p', '-t', 'lab').stdout;
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 300; i++) {
        if (re.test(screen())) return;
        await sleep(100);
      }
      throw new Error(`not on the screen: ${re}\n${screen()}`);
    };
    try {
      const cmd = `cd ${ROOT} && HOME=${rcdir} ${process.execPath} ${BIN} ${SHELL.join(' ')}; echo klp-lab-exited-$?; sleep 30`;
      expect(tmux('new-session', '-d', '-s', 'lab', '-x', '150', '-y', '40', cmd).status).toBe(0);
      await waitFor(/^\[klp-lab\] .*#\s*$/m);
      tmux('send-keys', '-t', 'lab', 'cat /proc/cmdline; cat /sys/devices/system/cpu/online', 'Enter');
      await waitFor(/^klp-lab workload=idle nr_cpus=2\n0-1$/m);
      tmux('send-keys', '-t', 'lab', 'exit', 'Enter');
      await waitFor(/^klp-lab-exited-0$/m);
    } finally {
      tmux('kill-server');
      rmSync(rcdir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the FUSE helper's fixed entries", () => {
  it('answers stat and open of /sys, /proc and /dev/kmsg itself, with the modes and errnos the lab gives', async () => {
    const running = await RunningLab.start({ cpus: 2, workload: 'idle', pace: 1 });
    const server = await ControlServer.listen(running);
    try {
      const stats = vi.spyOn(server.files, 'stat');
      const opens = vi.spyOn(server.files, 'open');
      const fixed = new Set(server.files.fixed().map((e) => e.path));
      let out = '';
      const status = await runInLabNamespace(server, {
        command: [
          'for i in 1 2 3 4 5; do stat -c "%A %n" /sys/kernel/livepatch /proc/sys/kernel/ftrace_enabled /dev/kmsg; echo x >/dev/kmsg; done | sort -u',
          'cat /proc/sys/kernel/ftrace_enabled',
          'echo 1 >/proc/kallsyms || true',
          'stat -c "%A %n" /sys/kernel/livepatch/nope || true',
        ].join('\n'),
        stdio: ['ignore', 'pipe', 'pipe'],
        started: (child) => {
          child.stdout!.on('data', (d) => (out += String(d)));
          child.stderr!.on('data', (d) => (out += String(d)));
        },
      });
      expect(status).toBe(0);
      expect(out.split('\n')).toEqual([
        '-rw-r--r-- /dev/kmsg',
        '-rw-r--r-- /proc/sys/kernel/ftrace_enabled',
        'drwxr-xr-x /sys/kernel/livepatch',
        '1',
        'bash: line 3: /proc/kallsyms: Permission denied',
        "stat: cannot statx '/sys/kernel/livepatch/nope': No such file or directory",
        '',
      ]);
      // the lab was asked only about what is not fixed
      const asked = [...stats.mock.calls, ...opens.mock.calls].map((c) => normalizePath(c[0]));
      expect(asked.filter((p) => fixed.has(p))).toEqual([]);
      expect(asked).toContain('/sys/kernel/livepatch/nope');
    } finally {
      await server.close();
      await running.close();
    }
  });
});
