// SPDX-License-Identifier: GPL-2.0-or-later
// The command line end to end: whole output through a pipe, every option checked before
// anything boots (one line naming the option and its values, status 2), failing livepatch
// steps (status 1), per-command help, --version, --json, list.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { orcDump } from '../../src/cli/orc.ts';
import { BIN, cli, ROOT } from './helpers.ts';

describe('klp-lab output', () => {
  it('arrives whole through a pipe read slowly', async () => {
    const whole = Buffer.byteLength(orcDump(`${ROOT}fixtures/kernel.elf`));
    expect(whole).toBeGreaterThan(65536 + 32768);
    const r = await cli(['orc', 'dump', 'fixtures/kernel.elf'], { slowReaderMs: 1500 });
    expect(r.status).toBe(0);
    expect(Buffer.byteLength(r.stdout)).toBe(whole);
  }, 60_000);

  it('ends quietly, as SIGPIPE ends a program, when the reader goes away', async () => {
    const r = await cli(['orc', 'dump', 'fixtures/kernel.elf'], {
      command: ['bash', '-o', 'pipefail', '-c', '"$@" | head -c 10', 'klp-lab', process.execPath, BIN],
    });
    expect(r.stdout).toHaveLength(10);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(141);
  }, 60_000);
});

describe('klp-lab options', () => {
  // [arguments, the option named, what the message says is allowed]
  const bad: [string[], RegExp][] = [
    [['--ms', 'abc'], /option '--ms <N>' argument 'abc' is invalid\. It must be a whole number from 1 to \d+\./],
    [['boot', '--ms', '0'], /option '--ms <N>' argument '0' is invalid/],
    [['--quantum', '0'], /option '--quantum <N>' argument '0' is invalid\. It must be a whole number from 100 to/],
    [['--seed', 'abc'], /option '--seed <N>' argument 'abc' is invalid\. It must be a whole number from 0 to 18446744073709551615\./],
    [['--cpus', '65'], /option '--cpus <N>' argument '65' is invalid\. It must be a whole number from 1 to 64\./],
    [['--preempt', 'some'], /option '--preempt <MODE>' argument 'some' is invalid\. Allowed choices are none, full\./],
    [['--image', 'fixtures'], /option '--image <FILE>' argument 'fixtures' is invalid\. 'fixtures' is not a regular file/],
    [['--image', 'nonexistent.elf'], /option '--image <FILE>' argument 'nonexistent\.elf' is invalid\. No such file/],
    [['--image', 'README.md'], /option '--image <FILE>' argument 'README\.md' is invalid\. 'README\.md' is not an ELF file/],
    [['--workload', 'nope'], /option '--workload <NAME>' argument 'nope' is invalid\. Allowed choices are idle, default, /],
    [['stack', 'kdeep/0', '--events'], /unknown option '--events'/],
    [['livepatch', '--ms', '10', 'load:test_klp_livepatch'], /unknown option '--ms'/],
    [['boot', 'extra'], /too many arguments for 'boot'/],
    [['orc', 'dump', 'a', 'b'], /too many arguments for 'dump'/],
    [['orc', 'dump', 'fixtures'], /command-argument value 'fixtures' is invalid for argument 'FILE'\. 'fixtures' is not a regular file/],
    [['selftest', 'test-nope'], /argument SUITE 'test-nope' is invalid\. Allowed choices are test-livepatch, /],
    [
      ['livepatch', '--dyndbg', 'fil kernel/livepatch/* +p', 'load:test_klp_livepatch'],
      /option '--dyndbg <QUERY>' argument 'fil kernel\/livepatch\/\* \+p' is invalid\. dynamic_debug\/control: unknown keyword 'fil'/,
    ],
    [['livepatch', 'patch:x'], /unknown step 'patch:x': steps are load: insmod: /],
    [
      ['livepatch', '--quirk', 'fork', 'load:test_klp_livepatch'],
      /option '--quirk <NAME>' argument 'fork' is invalid\. It must be one of fork-race, immediate, /,
    ],
    [['livepatch', 'offline:two'], /step 'offline:two': offline takes a cpu number \(offline:2\)/],
    [['livepatch', 'wait:p:timeout=soon'], /step 'wait:p:timeout=soon': wait takes NAME or NAME:timeout=MS/],
    [['stack', 'cpu7', '--cpus', '2'], /argument TASK 'cpu7' is invalid\. The machine has cpus 0 to 1\./],
    [['frobnicate'], /too many arguments|unknown command/],
  ];
  it('refuses a bad value, an unknown option or an extra argument before booting, in one line, status 2', async () => {
    for (let i = 0; i < bad.length; i += 4) {
      const rs = await Promise.all(bad.slice(i, i + 4).map(([args]) => cli(args)));
      rs.forEach((r, j) => {
        const [args, message] = bad[i + j];
        expect({ args, status: r.status, stdout: r.stdout }).toEqual({ args, status: 2, stdout: '' });
        expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
        expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^klp-lab: error: ${message.source}`));
      });
    }
  }, 120_000);

  it('stack TASK: a name that matches no task is refused, without a boot log', async () => {
    const r = await cli(['stack', 'nosuch', '--cpus', '1', '--ms', '100']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^klp-lab: error: argument TASK 'nosuch' is invalid: no task called 'nosuch'\. Tasks: swapper\/0, init, /);
  }, 60_000);

  it('a run too short for the cpus to come up still reports', async () => {
    const r = await cli(['--cpus', '2', '--ms', '1']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/# vCPUs\nCPU .*\n0 +no +running +- /);
  }, 60_000);

  it('--help per command, --version', async () => {
    const [top, lp, stack, version] = await Promise.all([
      cli(['--help']),
      cli(['livepatch', '--help']),
      cli(['help', 'stack']),
      cli(['--version']),
    ]);
    for (const r of [top, lp, stack, version]) expect(r.status).toBe(0);
    expect(top.stdout).toMatch(/^Usage: klp-lab \[options\] \[command\]/);
    for (const c of ['boot', 'stack', 'livepatch', 'selftest', 'list', 'orc']) expect(top.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
    expect(lp.stdout).toMatch(/^Usage: klp-lab livepatch \[options\] <STEP\.\.\.>/);
    expect(lp.stdout).toContain('--no-reliable-stacktrace');
    expect(lp.stdout).toContain('load:NAME[:k=v,...]');
    expect(stack.stdout).toMatch(/^Usage: klp-lab stack \[options\] <TASK>/);
    expect(version.stdout).toBe(`${JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version}\n`);
  }, 60_000);
});

describe('klp-lab livepatch', () => {
  it('a step that fails: one line naming it and the errno, the report so far, status 1', async () => {
    const cases: [string[], RegExp][] = [
      [['load:nosuch'], /^klp-lab: error: step 'load:nosuch' failed: no module 'nosuch' .*\(-ENOENT\)$/],
      [
        ['load:test_klp_livepatch', 'rmmod:nosuch', 'cat:cmdline_proc_show'],
        /^klp-lab: error: step 'rmmod:nosuch' failed: .*module 'nosuch' is not loaded \(-ENOENT\)$/,
      ],
      [['disable:test_klp_livepatch'], /^klp-lab: error: step 'disable:test_klp_livepatch' failed: .*\(-ENODEV\)$/],
      [['force:test_klp_livepatch'], /^klp-lab: error: step 'force:test_klp_livepatch' failed: .*\(-ENODEV\)$/],
      [['cat:nosuch'], /^klp-lab: error: step 'cat:nosuch' failed: .*'nosuch' not found$/],
      [
        ['insmod:test_klp_deep', 'wait:test_klp_deep:timeout=300'],
        /^klp-lab: error: step 'wait:test_klp_deep:timeout=300' failed: 'test_klp_deep' still in transition after 300 emulated ms$/,
      ],
      [
        ['insmod:./nowhere/mine.o'],
        /^klp-lab: error: step 'insmod:\.\/nowhere\/mine\.o' failed: no such file \/.*nowhere\/mine\.o \(-ENOENT\)$/,
      ],
    ];
    for (let i = 0; i < cases.length; i += 3) {
      const rs = await Promise.all(cases.slice(i, i + 3).map(([steps]) => cli(['livepatch', '--cpus', '1', ...steps])));
      rs.forEach((r, j) => {
        const [steps, message] = cases[i + j];
        expect({ steps, status: r.status }).toEqual({ steps, status: 1 });
        expect(r.stderr.trimEnd(), steps.join(' ')).toMatch(message);
        expect(r.stdout).toMatch(/^# kernel log\n[\s\S]*# patch states\nPID/);
      });
    }
    // the steps before the failing one ran, the ones after did not
    const [, second] = await Promise.all(cases.slice(0, 2).map(([steps]) => cli(['livepatch', '--cpus', '1', ...steps])));
    expect(second.stdout).toContain("livepatch: 'test_klp_livepatch': patching complete");
    expect(second.stdout).not.toContain('% cat cmdline_proc_show');
  }, 120_000);

  it('reports dmesg timestamps and the stack of each task still blocking; --json has it all', async () => {
    const steps = ['--cpus', '2', '--workload', 'default', 'insmod:test_klp_deep', 'run:500'];
    const [text, json] = await Promise.all([cli(['livepatch', ...steps]), cli(['livepatch', '--json', ...steps])]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^# kernel log\n\[ +\d+\.\d{6}\] % modprobe test_klp_deep\n/);
    expect(text.stdout).toMatch(/\n4 +kdeep\/0 +unpatched +pending +sleeping on function deep_c\n/);
    expect(text.stdout).toMatch(
      /# blocking tasks\ntask kdeep\/0 pid 4 \(switched out\):\nreliable stack trace, \d+ entries\nCall Trace:\n __schedule\+0x[0-9a-f]+\/0x[0-9a-f]+\n[\s\S]* deep_c\+0x[0-9a-f]+\/0x[0-9a-f]+\n/,
    );

    expect(json.status).toBe(0);
    const j = JSON.parse(json.stdout);
    expect(j.command).toBe('livepatch');
    expect(j.steps).toEqual([
      { step: 'insmod:test_klp_deep', status: 'ok' },
      { step: 'run:500', status: 'ok' },
    ]);
    expect(j.log[0]).toEqual({ tsNs: expect.any(Number), level: 6, text: '% modprobe test_klp_deep' });
    expect(j.sysfs).toContainEqual({ path: '/sys/kernel/livepatch/test_klp_deep/transition', mode: '-r--r--r--', value: '1' });
    expect(j.transition).toEqual({ patch: 'test_klp_deep', target: 1 });
    const kdeep = j.tasks.find((t: { comm: string }) => t.comm === 'kdeep/0');
    expect(kdeep).toMatchObject({ pid: 4, patchState: 'unpatched', pending: true, blocked: 'sleeping on function deep_c' });
    expect(kdeep.stack).toMatchObject({ pid: 4, comm: 'kdeep/0', where: 'switched out', reliable: true });
    expect(kdeep.stack.trace).toContainEqual(expect.stringMatching(/^deep_c\+0x[0-9a-f]+\/0x[0-9a-f]+$/));
    expect(j.tasks.find((t: { comm: string }) => t.comm === 'khostd')).toEqual({
      pid: 2,
      comm: 'khostd',
      patchState: 'patched',
      pending: false,
    });
    // the same run, the same log
    expect(text.stdout).toContain(`event log sha256 ${j.sha256}`);
  }, 120_000);
});

describe('klp-lab boot, stack, list', () => {
  it('boot --json and stack --json', async () => {
    const [boot, stack] = await Promise.all([
      cli(['boot', '--json', '--cpus', '2', '--ms', '300', '--events']),
      cli(['stack', '--json', 'kdeep/1', '--cpus', '2', '--ms', '300']),
    ]);
    expect(boot.status).toBe(0);
    const b = JSON.parse(boot.stdout);
    expect(b.log[0]).toEqual({ tsNs: 0, level: expect.any(Number), text: expect.stringMatching(/booting on 2 cpus/) });
    expect(b.cpus).toHaveLength(2);
    expect(b.tasks.find((t: { comm: string }) => t.comm === 'kdeep/1')).toMatchObject({ pid: '5', mode: 'kernel' });
    expect(b.events.length).toBeGreaterThan(0);
    expect(b.run.emulatedNs).toBe(300e6);
    expect(b.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(stack.status).toBe(0);
    const s = JSON.parse(stack.stdout);
    expect(s).toMatchObject({ command: 'stack', comm: 'kdeep/1', pid: 5, reliable: true });
    expect(s.trace.at(-1)).toMatch(/^ret_from_fork\+/);
  }, 60_000);

  it('list: the workloads, patches and modules the lab has', async () => {
    const r = await cli(['list']);
    expect(r.status).toBe(0);
    const [work, patches, mods] = r.stdout.split('\n\n');
    expect(work).toMatch(/^# workloads \(--workload NAME\)\n  idle\n  default\n/);
    expect(patches).toMatch(/^# livepatch modules/);
    expect(patches).toMatch(/\n  test_klp_livepatch\b/);
    expect(patches).not.toMatch(/lab_mod_hello/);
    expect(mods).toMatch(/^# modules/);
    expect(mods).toMatch(/\n  lab_mod_hello\b/);
    expect(mods).not.toMatch(/test_klp_livepatch/);
  }, 60_000);
});

describe('klp-lab --dyndbg', () => {
  it('pr_debug is off unless a query switches it on, as in the kernel', async () => {
    const session = ['livepatch', '--cpus', '2', 'load:test_klp_livepatch'];
    const off = await cli(session);
    const on = await cli([...session, '--dyndbg', 'file kernel/livepatch/* +p', '--dyndbg', 'func klp_try_switch_task -p']);
    expect(off.status).toBe(0);
    expect(on.status).toBe(0);
    const debug = /livepatch: 'test_klp_livepatch': initializing patching transition/;
    expect(off.stdout).not.toMatch(debug);
    expect(on.stdout).toMatch(debug);
    expect(on.stdout).toMatch(/livepatch: 'test_klp_livepatch': completing patching transition/);
    expect(on.stdout).not.toMatch(/klp_try_switch_task: /);
  }, 60_000);
});

describe('klp-lab --quirk', () => {
  it('brings a historic bug back by short name or constant, in boot, livepatch and selftest', async () => {
    const session = [
      'livepatch',
      '--cpus',
      '4',
      '--workload',
      'cpu-bound',
      'insmod:test_klp_livepatch',
      'wait:test_klp_livepatch:timeout=3000',
    ];
    const [fixed, byName, byConstant, selftest] = await Promise.all([
      cli(session),
      cli([...session, '--quirk', 'no-cond-resched']),
      cli([...session, '--quirk', 'KLP_QUIRK_NO_COND_RESCHED_E3FF7C60']),
      cli(['selftest', 'test-livepatch', '--quirk', 'immediate']),
    ]);
    expect(fixed.status).toBe(0);
    expect(fixed.stdout).toMatch(/livepatch: 'test_klp_livepatch': patching complete/);
    for (const r of [byName, byConstant]) {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/step 'wait:test_klp_livepatch:timeout=3000' failed: 'test_klp_livepatch' still in transition/);
      expect(r.stdout).not.toMatch(/patching complete/);
    }
    // an immediate patch leaves the selftests' lines as they are, but never lets its module go
    expect(selftest.status).toBe(1);
    expect(selftest.stdout).toMatch(/TEST: basic function patching \.\.\. not ok\n/);
    const boot = await cli(['boot', '--ms', '10', '--quirk', 'fork-race', '--quirk', 'immediate']);
    expect(boot.status).toBe(0);
  }, 120_000);
});
