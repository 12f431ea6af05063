// SPDX-License-Identifier: GPL-2.0-or-later
// `klp-lab livepatch STEP...`: step parsing, the steps on a booted lab, the reports, and the
// command itself end to end.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { Lab } from '../../src/lab/selftest.ts';
import { patchStateReport, sysfsReport } from '../../src/cli/livepatch.ts';
import { parseStep, runStep, StepError, StepFailure } from '../../src/lab/steps.ts';
import { SELFTESTS, runSelftest } from '../../src/lab/selftests/index.ts';
import { SelftestError } from '../../src/lab/selftest.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const boot = useLab({}, { start: false });

describe('klp-lab livepatch', () => {
  it('parses steps and names what is wrong with a bad one', () => {
    expect(parseStep('load:test_klp_atomic_replace:replace=1')).toEqual({
      arg: 'load:test_klp_atomic_replace:replace=1',
      verb: 'load',
      name: 'test_klp_atomic_replace',
      params: { replace: '1' },
      ms: 0,
    });
    expect(parseStep('run:250').ms).toBe(250);
    expect(() => parseStep('patch:x')).toThrow(StepError);
    expect(() => parseStep('load:')).toThrow(/needs an argument/);
    expect(() => parseStep('run:soon')).toThrow(/milliseconds/);
    expect(() => parseStep('param:m:oops')).toThrow(/not name=value/);
  });

  it('runs a session: stacked patches, a refused write fails its step, sysfs and task states', async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    lab.startTest();
    for (const s of ['load:test_klp_livepatch', 'load:test_klp_atomic_replace:replace=0']) runStep(lab, parseStep(s));
    // the kernel refuses force without a transition: the step fails with the write's errno
    const refused = (() => {
      try {
        runStep(lab, parseStep('force:test_klp_livepatch'));
      } catch (e) {
        return e;
      }
    })();
    expect(refused).toBeInstanceOf(StepFailure);
    expect(refused).toMatchObject({ step: 'force:test_klp_livepatch', errno: 'EINVAL' });
    runStep(lab, parseStep('cat:meminfo_proc_show'));
    const log = lab.logSinceStart();
    expect(log).toContain('% modprobe test_klp_atomic_replace replace=0');
    expect(log).toContain('% echo 1 > /sys/kernel/livepatch/test_klp_livepatch/force');
    expect(log).toContain('test_klp_atomic_replace: this has been live patched');
    const sysfs = sysfsReport(lab.lp);
    expect(sysfs).toContain('-rw-r--r-- /sys/kernel/livepatch/test_klp_atomic_replace/enabled = 1');
    expect(sysfs).toContain('-r--r--r-- /sys/kernel/livepatch/test_klp_atomic_replace/stack_order = 2');
    expect(sysfs).toContain('--w------- /sys/kernel/livepatch/test_klp_livepatch/force');
    expect(sysfs).toContain('drwxr-xr-x /sys/kernel/livepatch/test_klp_livepatch/vmlinux/cmdline_proc_show,1/');
    const states = patchStateReport(lab);
    expect(states[0]).toMatch(/^PID\s+COMM\s+PATCH\s+FLAG\s+SWITCH$/);
    expect(states.some((l) => /^\d+\s+khostd\s+-$/.test(l))).toBe(true);
  });

  it('sysctl: reads and writes kernel.ftrace_enabled; a refused write fails its step', async () => {
    expect(parseStep('sysctl:kernel.ftrace_enabled=0')).toMatchObject({ verb: 'sysctl', name: 'kernel.ftrace_enabled=0' });
    expect(() => parseStep('sysctl:kernel.nope=1')).toThrow(/KEY one of kernel\.ftrace_enabled/);
    expect(() => parseStep('sysctl:kernel.ftrace_enabled:x=1')).toThrow(StepError);
    const lab = await boot({ cpus: 2, workload: 'idle' });
    lab.startTest();
    const fails = (step: string) => {
      try {
        runStep(lab, parseStep(step));
      } catch (e) {
        return e;
      }
    };
    runStep(lab, parseStep('sysctl:kernel.ftrace_enabled=0'));
    expect(fails('load:test_klp_livepatch')).toMatchObject({ errno: 'EBUSY' });
    runStep(lab, parseStep('sysctl:kernel.ftrace_enabled=1'));
    runStep(lab, parseStep('load:test_klp_livepatch'));
    expect(fails('sysctl:kernel.ftrace_enabled=0')).toMatchObject({ step: 'sysctl:kernel.ftrace_enabled=0', errno: 'EBUSY' });
    expect(fails('sysctl:kernel.ftrace_enabled=off')).toMatchObject({ errno: 'EINVAL' });
    runStep(lab, parseStep('sysctl:kernel.ftrace_enabled'));
    const log = lab.logSinceStart();
    expect(log.slice(0, 3)).toEqual(['% sysctl kernel.ftrace_enabled=0', 'kernel.ftrace_enabled = 0', '% modprobe test_klp_livepatch']);
    expect(log).toContain("livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)");
    expect(log.slice(-2)).toEqual(['% sysctl kernel.ftrace_enabled', 'kernel.ftrace_enabled = 1']);
  });

  it('says what keeps each pending task from switching', async () => {
    const lab = await boot({ cpus: 2, workload: 'default' });
    for (const s of ['insmod:test_klp_deep', 'run:1500']) runStep(lab, parseStep(s));
    const states = patchStateReport(lab);
    const kdeep = states.filter((l) => /^\d+\s+kdeep\//.test(l));
    expect(kdeep).toHaveLength(4);
    for (const l of kdeep) expect(l).toMatch(/unpatched\s+pending\s+sleeping on function deep_c$/);
    expect(states.filter((l) => /\skhostd\s/.test(l))[0]).toMatch(/khostd\s+patched$/);
  });

  it('end to end from the command line', () => {
    const out = execFileSync(
      'npx',
      ['tsx', 'src/cli/main.ts', 'livepatch', '--cpus', '2', '--workload', 'idle', 'load:test_klp_livepatch', 'cat:cmdline_proc_show'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(
      /\] livepatch: 'test_klp_livepatch': patching complete\n\[ *[\d.]+\] % cat cmdline_proc_show\n\[ *[\d.]+\] test_klp_livepatch: this has been live patched\n/,
    );
    expect(out).toMatch(/# \/sys\/kernel\/livepatch\n[^#]*test_klp_livepatch\/enabled = 1/);
    expect(out).toMatch(/# patch states\nPID/);
  }, 60_000);

  it("selftest: the scripts' report; a scenario whose log differs fails", async () => {
    const out = execFileSync('npx', ['tsx', 'src/cli/main.ts', 'selftest', 'test-state'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toContain('# test-state\nTEST: system state modification ... ok\n');
    expect(out).toContain('# test-state: 4 of 4 ok');
    const list = execFileSync('npx', ['tsx', 'src/cli/main.ts', 'selftest', '--list'], { cwd: ROOT, encoding: 'utf8' });
    expect(list.match(/^TEST: /gm)).toHaveLength(SELFTESTS.length);
    // the comparison is real: one line off and the test fails, naming the difference
    const basic = SELFTESTS.find((t) => t.name === 'basic function patching')!;
    const broken = { ...basic, expected: (l: Lab) => basic.expected(l).map((x) => x.replace('patching complete', 'patching done')) };
    await expect(runSelftest(broken)).rejects.toThrow(SelftestError);
    await expect(runSelftest(broken)).rejects.toThrow(/patching done[\s\S]*--- got[\s\S]*patching complete/);
  }, 60_000);

  it('a guest oops in a step ends the session with the oops report', () => {
    const r = spawnSync(
      'npx',
      [
        'tsx',
        'src/cli/main.ts',
        'livepatch',
        '--cpus',
        '2',
        '--workload',
        'idle',
        'insmod:lab_mod_oops:crash=1',
        'load:test_klp_livepatch',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /# oops\n[\s\S]*RIP: 0010:lab_oops_deref\+0xc\/0x10 \[lab_mod_oops\][\s\S]*Call Trace:\n lab_oops_deref\+0xc\/0x10 \[lab_mod_oops\]\n lab_oops_work/,
    );
    // the step after the oops never ran
    expect(r.stdout).not.toContain('% modprobe test_klp_livepatch');
  }, 60_000);
});
