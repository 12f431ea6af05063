// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest warnings: WARN_ON_ONCE reports its site the first time only, WARN_ON every time,
 * each in the kernel's shape with the call trace unwound from the warning (lab_mod_warn's
 * init: warn_run() calls the two checks three times each).
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';

const boot = useLab({}, { start: false });

describe('WARN_ON / WARN_ON_ONCE', () => {
  it('reports a WARN_ON_ONCE site once and a WARN_ON site each time, with a call trace', async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    lab.startTest();
    lab.loadMod('lab_mod_warn');
    const log = lab.logSinceStart();
    expect(log).toContain('lab_mod_warn: 5 conditions true');
    const heads = log.filter((l) => l.startsWith('WARNING: '));
    const hostd = lab.k.task(lab.k.mem.s32(lab.k.mem.u64(lab.k.sym('hostd_task')) + BigInt(lab.k.layout.offset('task_struct', 'pid'))))!;
    const at = (fn: string) =>
      new RegExp(
        `^WARNING: CPU: \\d PID: ${hostd.pid} at modules/lab_mod_warn\\.c:\\d+ ${fn}\\+0x[0-9a-f]+/0x[0-9a-f]+ \\[lab_mod_warn\\]$`,
      );
    expect(heads).toHaveLength(3);
    expect(heads[0]).toMatch(at('warn_once_check'));
    expect(heads[1]).toMatch(at('warn_always_check'));
    expect(heads[2]).toMatch(at('warn_always_check'));

    // the first report whole: modules, task, rip, the trace from the caller down to khostd
    const first = log.slice(log.indexOf('------------[ cut here ]------------'));
    const end = first.indexOf('---[ end trace 0000000000000000 ]---');
    const report = first.slice(0, end + 1);
    expect(report[2]).toBe('Modules linked in: lab_mod_warn');
    expect(report[3]).toBe(`CPU: ${/CPU: (\d)/.exec(heads[0])![1]} PID: ${hostd.pid} Comm: khostd`);
    expect(report[4]).toMatch(/^RIP: 0010:warn_once_check\+0x[0-9a-f]+\/0x[0-9a-f]+ \[lab_mod_warn\]$/);
    expect(report[5]).toBe('Call Trace:');
    const frames = report.slice(6, -1).map((l) => l.trim().replace(/\+.*/, ''));
    expect(frames.slice(0, 2)).toEqual(['warn_run', 'warn_init']);
    expect(frames).toContain('hostd');
  });
});
