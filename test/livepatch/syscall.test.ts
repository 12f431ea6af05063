// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-syscall.sh: processes calling getpid in a loop while a livepatch replaces the getpid
 * system call; each is crossed off when it first runs the new code, and every one switches on
 * its way back to user mode. Then a user task asleep inside a patched system call (futex_wait):
 * it blocks the transition until the fake signal of 43347d56/8df1947c (TIF_NOTIFY_SIGNAL)
 * wakes it; its call returns -ERESTARTSYS, the task switches on the way out, re-enters the call
 * -- now the new code -- and never sees a signal or an error.
 *
 * How a task switched is in the event log: the guest's klp_update_patch_state() records a
 * klp_switch event naming its caller (the switch point); the host's stack-check switches write
 * the state directly and leave none.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { checkResultFilter, Lab } from '../../src/lab/selftest.ts';
import { ModuleParamError } from '../../src/kernel/modparams.ts';
import { kobjectFiles, SysfsError } from '../../src/kernel/sysfs.ts';
import { npidsPending, syscallLines } from '../../src/lab/selftests/test-syscall.ts';
import type { LabEvent } from '../../src/kernel/events.ts';
import type { Task } from '../../src/kernel/task.ts';
import { stackTraceSaveTskReliable } from '../../src/orc/unwind.ts';
import { KLP_PATCHED, KLP_UNPATCHED } from '../../src/livepatch/structs.ts';

const boot = useLab({}, { start: false });

/** The klp_switch events from `since` on: pid, new state, and the function the switch ran in. */
function selfSwitches(lab: Lab, since: number): Array<{ pid: number; state: number; at: string | undefined; cpu: number; index: number }> {
  const k = lab.k;
  const stext = k.sym('_stext');
  return k.log.events
    .map((e: LabEvent, index: number) => ({ e, index }))
    .filter(({ e, index }) => index >= since && e.type === 'klp_switch')
    .map(({ e, index }) => ({ pid: e.a, state: e.b, at: k.image.symbolAt(stext + BigInt(e.c))?.name, cpu: e.cpu, index }));
}

/** The functions on a sleeping task's stack, innermost first (module functions included). */
function stackFunctions(lab: Lab, t: Task): string[] {
  const trace = stackTraceSaveTskReliable(lab.k, t, 100);
  if (!trace.reliable) throw new Error(`${t}: unreliable stack`);
  return trace.entries.map((a) => lab.modules.symbolize(a).replace(/\+.*/, ''));
}

/** The core's lines for one transition of `mod`, with `during` between its start and its end. */
function transitionLines(mod: string, what: 'patching' | 'unpatching', during: string[] = []): string[] {
  return [
    `livepatch: '${mod}': initializing ${what} transition`,
    `livepatch: '${mod}': starting ${what} transition`,
    ...during,
    `livepatch: '${mod}': completing ${what} transition`,
    `livepatch: '${mod}': ${what} complete`,
  ];
}

const MOD_SYSCALL = 'test_klp_syscall';

/** check_result's lines without the per-task ones, which these tests switch on to look at. */
const withoutPerTask = (l: string) => checkResultFilter(l) && !l.includes('livepatch: klp_try_switch_task: ');

describe('test-syscall', () => {
  it('patch getpid syscall while being heavily hammered', async () => {
    // one process per cpu but cpu 0, which khostd (the kworker of the transition) keeps for itself
    const lab = await boot({ cpus: 4, workload: 'getpid', nrUser: 3 });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k } = lab;
    const procs = () => [...k.forEachTask()].filter((t) => t.comm === 'ugetpid');
    const pinned = () => procs().length === 3 && procs().every((t) => t.currentOn() > 0);
    expect(k.run({ ns: 1e9, until: pinned }).untilMet).toBe(true);
    const pids = procs().map((t) => t.pid);
    const cpuOf = new Map(procs().map((t) => [t.pid, t.currentOn()]));
    expect(new Set(cpuOf.values())).toEqual(new Set([1, 2, 3]));

    const firstEvent = k.log.events.length;
    lab.startTest();
    lab.loadLp(MOD_SYSCALL, { klp_pids: pids.join(',') });
    const npids = () => npidsPending(lab);
    expect(k.mem.u32(lab.modules.findSymbol(MOD_SYSCALL, 'npids'))).toBe(3);
    // the module's own sysfs file, a kobject under kernel_kobj, read through its show function
    const NPIDS = `/sys/kernel/${MOD_SYSCALL}/npids`;
    expect(kobjectFiles(k).map((f) => [f.path, f.mode])).toEqual([[NPIDS, 0o444]]);
    expect(lab.sysfsRead(NPIDS)).toBe(`${npids()}\n`);
    expect(k.run({ ns: 5e9, until: () => npids() === 0 }).untilMet).toBe(true);
    expect(lab.sysfsRead(NPIDS)).toBe('0\n');
    lab.log(`${MOD_SYSCALL}: Remaining not livepatched processes: ${npids()}`);
    // every entry was crossed off by its own process, in the new getpid
    const klpPids = lab.modules.findSymbol(MOD_SYSCALL, 'klp_pids');
    expect(pids.map((_, i) => k.mem.s32(klpPids + BigInt(4 * i)))).toEqual([0, 0, 0]);

    // How they switched. The transition looked at each one and found it running on its cpu, so
    // it could not check its stack ...
    const lines = lab.logSinceStart();
    for (const pid of pids) expect(lines).toContain(`livepatch: klp_try_switch_task: ugetpid:${pid} is running`);
    // ... and each switched itself once, to the patched state, in exit_to_user_mode() on its
    // own cpu: on its way back to user mode, not by a stack check
    const switches = selfSwitches(lab, firstEvent).filter((s) => pids.includes(s.pid));
    expect(switches.map((s) => s.pid).sort()).toEqual([...pids].sort());
    for (const s of switches) {
      expect(s.state).toBe(KLP_PATCHED);
      expect(s.at).toBe('exit_to_user_mode');
      expect(s.cpu).toBe(cpuOf.get(s.pid));
    }

    for (const pid of pids) expect(lab.kill(pid)).toBe(0);
    const exited = () => pids.every((pid) => k.task(pid) === undefined);
    expect(k.run({ ns: 1e9, until: exited }).untilMet).toBe(true);
    const sigterm = k.layout.constant('SIGTERM');
    const exits = k.log.events.filter((e) => e.type === 'exit' && pids.includes(e.a));
    // wait statuses: each died of the signal
    expect(exits.map((e) => e.b)).toEqual(pids.map(() => sigterm));

    lab.disableLp(MOD_SYSCALL);
    lab.unloadLp(MOD_SYSCALL);
    lab.checkResult(syscallLines(pids), withoutPerTask);
    // its exit put the kobject: the directory is gone
    expect(kobjectFiles(k)).toEqual([]);
    expect(() => lab.sysfsRead(NPIDS)).toThrow(new SysfsError(NPIDS, 'ENOENT', 'no such file'));
  });

  it('refuses bad parameters with guest memory untouched', async () => {
    const lab = await boot({ cpus: 2, workload: 'getpid', nrUser: 1 });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k } = lab;
    const ram = () => Buffer.from(k.mem.bytes(k.mem.base, Number(k.mem.end - k.mem.base)));
    const before = ram();
    expect(() => lab.loadMod(MOD_SYSCALL, { nope: '1' })).toThrow(ModuleParamError);
    expect(() => lab.loadMod(MOD_SYSCALL, { klp_pids: Array.from({ length: 65 }, (_, i) => i + 1).join(',') })).toThrow(
      /holds 64 ints, got 65/,
    );
    expect(() => lab.loadMod(MOD_SYSCALL, { klp_pids: '1.5' })).toThrow(/'1.5' invalid for parameter 'klp_pids'/);
    expect(lab.modules.isLoaded(MOD_SYSCALL)).toBe(false);
    expect(ram().equals(before)).toBe(true);
  });
});

const MOD_FUTEX = 'test_klp_futex';

describe('a user task asleep in a patched system call', () => {
  it('is woken by the fake signal, switches on its way out, restarts its call, and sees nothing', async () => {
    const lab = await boot({ cpus: 2, workload: 'futex-sleep' });
    lab.dynamicDebug.write('file kernel/livepatch/* +p'); // every pr_debug of the core, the per-task lines too
    const { k, lp } = lab;
    const sleeper = () => [...k.forEachTask()].find((t) => t.comm === 'ufsleep');
    const asleep = () => sleeper()?.stateChar === 'S' && stackFunctions(lab!, sleeper()!).includes('sys_futex_wait');
    expect(k.run({ ns: 1e9, until: asleep }).untilMet).toBe(true);
    const task = sleeper()!;
    const seen = () =>
      Object.fromEntries(
        ['futex_returns_ok', 'futex_returns_eagain', 'futex_returns_eintr', 'futex_returns_other', 'futex_handler_runs'].map((s) => [
          s.replace(/^futex_/, ''),
          Number(k.mem.u64(k.sym(s))),
        ]),
      );
    const nothing = { returns_ok: 0, returns_eagain: 0, returns_eintr: 0, returns_other: 0, handler_runs: 0 };
    expect(seen()).toEqual(nothing);

    const firstEvent = k.log.events.length;
    lab.startTest();
    const t0 = k.machine.clockNs;
    lab.loadLpNowait(MOD_FUTEX);
    const signaling = 'livepatch: signaling remaining tasks';
    expect(k.run({ ns: 20e9, until: () => lab.logSinceStart().includes(signaling) }).untilMet).toBe(true);
    // after 15 tries, one a second, the task still sleeps in the function the patch replaces
    expect((k.machine.clockNs - t0) / 1e9).toBeGreaterThanOrEqual(15);
    const lines = lab.logSinceStart();
    const blocked = `livepatch: klp_try_switch_task: ufsleep:${task.pid} is sleeping on function sys_futex_wait`;
    expect(lines.slice(0, lines.indexOf(signaling)).filter((l) => l === blocked).length).toBeGreaterThanOrEqual(15);
    lab.waitForTransition(MOD_FUTEX, 3000);
    // the next try completed it: no force
    expect(lp.sysfsRead(`/sys/kernel/livepatch/${MOD_FUTEX}/transition`)).toBe('0');

    // it switched itself once, on its way back to user mode, after the fake signal
    const signalAt = k.log.events.findIndex((e, i) => i >= firstEvent && e.type === 'printk' && e.text === signaling);
    const own = selfSwitches(lab, firstEvent).filter((s) => s.pid === task.pid);
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ state: KLP_PATCHED, at: 'exit_to_user_mode' });
    expect(own[0].index).toBeGreaterThan(signalAt);
    // no signal was delivered: no handler ran, no futex_wait returned to the program, whose call
    // was restarted -- it sleeps again, in the new function, which it entered once
    expect(k.log.events.slice(firstEvent).filter((e) => e.type === 'signal' && e.a === task.pid)).toEqual([]);
    expect(seen()).toEqual(nothing);
    expect(task.testTifFlag('TIF_NOTIFY_SIGNAL')).toBe(false);
    expect(task.testTifFlag('TIF_SIGPENDING')).toBe(false);
    expect(task.stateChar).toBe('S');
    expect(stackFunctions(lab, task)).toContain('livepatch_sys_futex_wait');
    const calls = () => k.mem.u64(lab.modules.findSymbol(MOD_FUTEX, 'klp_futex_calls'));
    expect(calls()).toBe(1n);
    expect(k.mem.s32(lab.modules.findSymbol(MOD_FUTEX, 'klp_futex_last_pid'))).toBe(task.pid);

    // a real wakeup returns 0 to the program, which waits again (in the new code)
    k.mem.setU32(k.sym('futex_release'), 1);
    expect(k.run({ ns: 1e9, until: () => seen().returns_ok === 1 && task.stateChar === 'S' }).untilMet).toBe(true);
    expect(seen()).toEqual({ ...nothing, returns_ok: 1 });
    expect(calls()).toBe(2n);
    // while a real signal with a handler does what the fake one must not: the handler runs and
    // the interrupted call fails with EINTR
    expect(lab.kill(task.pid, k.layout.constant('SIGUSR1'))).toBe(0);
    expect(k.run({ ns: 1e9, until: () => seen().handler_runs === 1 && task.stateChar === 'S' }).untilMet).toBe(true);
    expect(seen()).toEqual({ ...nothing, returns_ok: 1, returns_eintr: 1, handler_runs: 1 });
    expect(BigInt.asIntN(64, k.mem.u64(k.sym('futex_last_error')))).toBe(BigInt(-k.layout.constant('EINTR')));
    expect(
      k.log.events
        .slice(firstEvent)
        .filter((e) => e.type === 'signal' && e.a === task.pid)
        .map((e) => e.c),
    ).toEqual([1]);

    // unpatching: the task now sleeps in the new function; woken for real, it switches back on
    // its way out and waits in the original again, so no signal is needed
    const beforeDisable = k.log.events.length;
    k.mem.setU32(k.sym('futex_release'), 1);
    lab.disableLp(MOD_FUTEX);
    const back = selfSwitches(lab, beforeDisable).filter((s) => s.pid === task.pid);
    expect(back).toEqual([expect.objectContaining({ state: KLP_UNPATCHED, at: 'exit_to_user_mode' })]);
    expect(stackFunctions(lab, task)).toContain('sys_futex_wait');
    lab.unloadLp(MOD_FUTEX);

    // one signaling round, and no force
    lab.checkResult(
      [
        `% modprobe ${MOD_FUTEX}`,
        `livepatch: enabling patch '${MOD_FUTEX}'`,
        ...transitionLines(MOD_FUTEX, 'patching', [signaling]),
        `% echo 0 > /sys/kernel/livepatch/${MOD_FUTEX}/enabled`,
        ...transitionLines(MOD_FUTEX, 'unpatching'),
        `% rmmod ${MOD_FUTEX}`,
      ],
      withoutPerTask,
    );
  });
});
