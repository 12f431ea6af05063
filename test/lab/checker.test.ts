// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The consistency checker (src/lab/checker.ts) against real runs: quiet on correct ones (the
 * kernel's selftests, a transition of CPU-bound kthreads, a stalling patch forced through), and
 * each of its rules made to fire -- a klp_ftrace_handler broken in guest memory (its decision
 * patched out, so no byte of the real handler changes in any other run), task states faked in
 * guest memory where nothing else can make a task mix states, a WARNING, an oops, a lockup, a
 * patch that stalls, and the historic fork race brought back by its quirk.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';
import { attachChecker } from '../../src/lab/checker.ts';
import type { Lab } from '../../src/lab/selftest.ts';
import type { Violation } from '../../src/lab/violation.ts';
import { allTasks, cpuCurr, type Task } from '../../src/kernel/task.ts';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import { KernelOops } from '../../src/kernel/kernel.ts';
import { disassemble } from '../../src/emu/disasm.ts';
import { parseStep, runStep } from '../../src/lab/steps.ts';
import { findQuirk } from '../../src/lab/quirks.ts';
import { SELFTESTS } from '../../src/lab/selftests/index.ts';

const boot = useLab({}, { start: false });

const KLP_UNPATCHED = 0;
const KLP_PATCHED = 1;

function task(lab: Lab, comm: string): Task {
  const t = allTasks(lab.k).find((x) => x.comm === comm);
  if (!t) throw new Error(`no task ${comm}`);
  return t;
}

function setState(lab: Lab, t: Task, state: number, pending: boolean): void {
  const k = lab.k;
  k.mem.setU32(t.address + BigInt(k.layout.offset('task_struct', 'patch_state')), state);
  const flags = t.address + BigInt(k.layout.offset('task_struct', 'thread_info.flags'));
  const bit = 1n << BigInt(k.layout.constant('TIF_PATCH_PENDING'));
  k.mem.setU64(flags, pending ? k.mem.u64(flags) | bit : k.mem.u64(flags) & ~bit);
}

/**
 * Breaks klp_ftrace_handler in guest memory: NOPs out one conditional jump of its decision.
 * 'ignore-transition': the jump taken when func->transition is set (to the read of the task's
 * patch_state), so every task gets the newest func; 'ignore-state': the jump taken when that
 * state is not UNPATCHED, so every task in a transition gets the older code.
 */
function breakHandler(lab: Lab, how: 'ignore-transition' | 'ignore-state'): void {
  const k = lab.k;
  const sym = k.image.elf.findSymbol('klp_ftrace_handler');
  const insns = disassemble(k.mem.bytes(sym.value, sym.size), sym.value);
  const stateRead = `+ 0x${k.layout.offset('task_struct', 'patch_state').toString(16)}]`;
  const readsState = (a: bigint) => insns.find((i) => i.address === a)?.opStr.includes(stateRead) ?? false;
  let jump;
  if (how === 'ignore-transition') jump = insns.find((i) => i.mnemonic === 'jne' && readsState(BigInt(i.opStr)));
  else {
    const read = insns.findIndex((i) => i.opStr.includes(stateRead));
    jump = insns.slice(read).find((i, n, rest) => i.mnemonic === 'jne' && rest[n - 1]?.mnemonic === 'test');
  }
  if (!jump) throw new Error(`klp_ftrace_handler: no jump to break (${how})`);
  k.machine.writeCode(jump.address, new Uint8Array(jump.size).fill(0x90));
}

/** Runs until the checker has something, at most ms. */
/** Runs on until task `t` is current on a cpu whose next instruction is in function `fn`. */
function runUntilIn(lab: Lab, t: Task, fn: string): void {
  const k = lab.k;
  for (let i = 0; i < 1000; i++) {
    const cpu = k.machine.cpus.findIndex((_c, n) => cpuCurr(k, n).pid === t.pid);
    if (cpu >= 0 && k.image.symbolAt(k.machine.cpus[cpu].rip)?.name === fn) return;
    k.runFor(0.05);
  }
  throw new Error(`${t.comm} never stopped in ${fn}()`);
}

function runUntilViolation(lab: Lab, c: { poll(): Violation | undefined }, ms: number): Violation | undefined {
  for (let t = 0; t < ms && !c.poll(); t += 10) lab.k.runFor(10);
  return c.poll();
}

describe('the consistency checker on correct runs', () => {
  it('gives no violation in any of the kernel selftests', async () => {
    let entries = 0;
    for (const t of SELFTESTS) {
      const lab = await boot({ cpus: 2, workload: 'idle', ...t.boot });
      const c = attachChecker(lab);
      lab.setupConfig();
      lab.startTest();
      t.run(lab);
      lab.checkResult(t.expected(lab));
      expect(c.finish(), `${t.suite}: ${t.name}`).toBeUndefined();
      entries += c.seen.entries;
      c.detach();
    }
    // the patched /proc files were read, getpid hammered: the checker saw the new code run
    expect(entries).toBeGreaterThan(100);
  }, 120_000);

  it('follows CPU-bound kthreads through a transition and a stalled patch forced through', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe', seed: 3 });
    const c = attachChecker(lab);
    lab.loadLp('test_klp_probe');
    lab.k.runFor(200);
    lab.disableLp('test_klp_probe');
    // the pair stalls on the kprobe threads (the old loop is always on their stacks): forced
    lab.loadLpNowait('test_klp_probe_pair');
    lab.k.runFor(1500);
    expect(lab.lp.transitionPatch?.name).toBe('test_klp_probe_pair');
    expect(c.poll()).toBeUndefined();
    lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_probe_pair/force', '1');
    lab.waitForTransition('test_klp_probe_pair');
    lab.k.runFor(300);
    expect(c.finish()).toBeUndefined();
    // lab_probe ran thousands of times, during the transitions too
    expect(c.seen.inTransition).toBeGreaterThan(100);
    expect(c.seen.entries).toBeGreaterThan(c.seen.inTransition);
    c.detach();
  }, 60_000);
});

describe('the consistency checker and determinism', () => {
  // a quantum of a million instructions per vCPU: more entries per round than the hit ring
  // holds, so quanta are stopped to read it -- and resumed exactly where they stopped
  async function session(checked: boolean): Promise<{ digest: string; fills: number; entries: number }> {
    const lab = await boot({ cpus: 2, workload: 'getpid', seed: 4, quantum: 1_000_000 });
    const c = checked ? attachChecker(lab) : undefined;
    lab.loadLp('test_klp_syscall');
    lab.k.runFor(300);
    lab.disableLp('test_klp_syscall');
    expect(c?.finish()).toBeUndefined();
    const out = { digest: lab.k.log.digest(), fills: c?.ringFills ?? 0, entries: c?.seen.entries ?? 0 };
    c?.detach();
    return out;
  }

  it('leaves the run bit for bit as it is without it, even when its ring fills mid-quantum', async () => {
    const plain = await session(false);
    const checked = await session(true);
    expect(checked.fills).toBeGreaterThan(0);
    expect(checked.entries).toBeGreaterThan(4096);
    expect(checked.digest).toBe(plain.digest);
  }, 60_000);
});

describe('the consistency checker finds', () => {
  it('new code run by an unpatched task, when the handler ignores func->transition', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe', seed: 1 });
    const c = attachChecker(lab);
    breakHandler(lab, 'ignore-transition');
    lab.loadLpNowait('test_klp_probe');
    const v = runUntilViolation(lab, c, 2000);
    expect(v?.kind).toBe('new-code-while-unpatched');
    expect(v?.message).toMatch(
      /^kprobe\/\d+:\d+ \(cpu \d\) ran lab_probe\(\) of 'test_klp_probe' with patch state UNPATCHED in the patching transition of 'test_klp_probe'; the model gives it the original lab_probe\(\)$/,
    );
    expect(v?.tasks[0].comm).toMatch(/^kprobe\//);
    expect(v?.tasks[0].stack?.length).toBeGreaterThan(0);
    c.detach();
  });

  it('old code run by a patched task, when the handler ignores the task state', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe', seed: 1 });
    const c = attachChecker(lab);
    breakHandler(lab, 'ignore-state');
    lab.loadLpNowait('test_klp_probe');
    const v = runUntilViolation(lab, c, 2000);
    expect(v?.kind).toBe('old-code-while-patched');
    expect(v?.message).toMatch(/ran the original lab_probe\(\) with patch state PATCHED in the patching transition of 'test_klp_probe'/);
    expect(v?.tasks[0].comm).toMatch(/^kprobe\//);
    c.detach();
  });

  it('a task switched with old code on its stack that then runs new code (mixed states)', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe', seed: 2 });
    const c = attachChecker(lab);
    lab.loadLpNowait('test_klp_probe_pair');
    lab.k.runFor(100);
    expect(c.poll()).toBeUndefined();
    // as if the stack check had missed the old probe_thread() on kprobe/1's stack; set while it
    // runs probe_thread() itself, not halfway through a handler that already chose the old code
    const t = task(lab, 'kprobe/1');
    runUntilIn(lab, t, 'probe_thread');
    setState(lab, t, KLP_PATCHED, false);
    const v = runUntilViolation(lab, c, 500);
    expect(v?.kind, v?.message).toBe('mixed-states');
    expect(v?.message).toMatch(
      /^kprobe\/1:\d+ \(cpu \d\) entered lab_probe\(\) of 'test_klp_probe_pair' with the original probe_thread\(\) still on its stack/,
    );
    expect(v?.tasks[0]).toMatchObject({ comm: 'kprobe/1', pid: t.pid });
    c.detach();
  });

  it('a task that goes back to the old code after the new within one transition (mixed states)', async () => {
    const lab = await boot({ cpus: 4, workload: 'probe', seed: 2 });
    const c = attachChecker(lab);
    // kprobe/2 is kept from switching: the other kprobe threads do
    lab.loadLpNowait('test_klp_probe_pair');
    lab.k.runFor(50);
    const t = task(lab, 'kprobe/2');
    setState(lab, t, KLP_PATCHED, false);
    lab.k.runFor(20);
    // and back, pending again: bookkeeping consistent, but its calls went new, then old
    setState(lab, t, KLP_UNPATCHED, true);
    const v = runUntilViolation(lab, c, 500);
    expect(v?.kind).toBe('mixed-states');
    expect(v?.tasks[0].comm).toBe('kprobe/2');
    c.detach();
  });

  it('a pending flag at rest', async () => {
    const lab = await boot({ cpus: 2, workload: 'default' });
    const c = attachChecker(lab);
    lab.k.runFor(50);
    expect(c.poll()).toBeUndefined();
    const t = task(lab, 'kwaker');
    setState(lab, t, -1, true);
    const v = c.poll();
    expect(v).toMatchObject({ kind: 'pending-at-rest', tasks: [{ comm: 'kwaker', pid: t.pid }] });
    expect(v?.message).toMatch(/^kwaker.* has TIF_PATCH_PENDING with no transition in progress$/);
    c.detach();
  });

  it('a func_stack the handler would misread', async () => {
    const lab = await boot({ cpus: 2, workload: 'default' });
    const c = attachChecker(lab);
    lab.loadLp('test_klp_livepatch');
    expect(c.poll()).toBeUndefined();
    lab.lp.patches[0].objs[0].funcs[0].transition = true;
    expect(c.poll()).toMatchObject({ kind: 'func-stack' });
    expect(c.poll()?.message).toMatch(/cmdline_proc_show,1 is in transition, but 'test_klp_livepatch' is not the patch in transition/);
    c.detach();
  });

  it('an enabled patch whose module holds no reference (sysfs)', async () => {
    const lab = await boot({ cpus: 2, workload: 'idle' });
    const c = attachChecker(lab);
    lab.loadLp('test_klp_livepatch');
    expect(c.poll()).toBeUndefined();
    lab.modules.put('test_klp_livepatch');
    expect(c.poll()).toMatchObject({ kind: 'sysfs', message: "'test_klp_livepatch' is enabled but its module holds no reference" });
    c.detach();
  });

  it('a WARNING, an oops and a lockup', async () => {
    const warn = await boot({ cpus: 2, workload: 'idle' });
    const c1 = attachChecker(warn);
    warn.loadMod('lab_mod_warn');
    expect(c1.poll()).toMatchObject({ kind: 'warning' });
    expect(c1.poll()?.message).toMatch(
      /^3 WARNING\(s\) in the kernel log, the first: .*WARNING: CPU: \d PID: \d+ at modules\/lab_mod_warn\.c/,
    );
    c1.detach();

    const oops = await boot({ cpus: 2, workload: 'idle' });
    const c2 = attachChecker(oops);
    expect(() => oops.loadMod('lab_mod_oops', { crash: '1' })).toThrow(KernelOops);
    // named after the task that was current on the faulting cpu: the module's init runs in khostd
    const v = c2.finish();
    expect(v).toMatchObject({ kind: 'oops', tasks: [{ comm: 'khostd' }] });
    expect(v?.message).toMatch(/^the guest oopsed on cpu \d in khostd \(pid \d+\): cpu \d: /);
    expect(v?.tasks[0].stack?.[0]).toMatch(/^lab_oops_deref\+0x0\/0x\w+ \[lab_mod_oops\]$/);

    const lockup = await boot({ cpus: 2, workload: 'idle' });
    const c3 = attachChecker(lockup);
    const k = lockup.k;
    const code = k.hostMem.alloc(16, 16, 'cli; hlt');
    k.machine.writeCode(code, Uint8Array.from([0xfa, 0xf4, 0xc3]));
    function* hang(): HostTask<void> {
      yield* callGuest(code);
    }
    expect(() => k.host.run('lockup', hang())).toThrow(KernelOops);
    expect(c3.finish()).toMatchObject({ kind: 'lockup', tasks: [{ comm: 'khostd' }] });
  });

  it('a transition that does not complete, with what keeps each task', async () => {
    const lab = await boot({ cpus: 2, workload: 'probe', seed: 1 });
    const c = attachChecker(lab, { stallMs: 2000 });
    lab.loadLpNowait('test_klp_probe_pair');
    lab.k.runFor(1500);
    expect(c.poll()).toBeUndefined();
    const v = runUntilViolation(lab, c, 1000);
    expect(v?.kind).toBe('stall');
    expect(v?.message).toMatch(
      /^the patching transition of 'test_klp_probe_pair' has not completed in 2000 emulated ms: kprobe\/\d:\d+ (running|sleeping on function probe_thread)/,
    );
    expect(v?.tasks.map((t) => t.comm).sort()).toEqual(['kprobe/0', 'kprobe/1']);
    expect(v?.tasks[0].stack?.some((l) => l.startsWith('probe_thread+'))).toBe(true);
    c.detach();
  });
});

describe('the fork race (747f7a29) as the checker sees it', () => {
  const quirk = findQuirk('fork-race')!;
  async function run(withQuirk: boolean, seed: number): Promise<Violation | undefined> {
    const { quirks, ...rest } = quirk.scenario.boot;
    const lab = await boot({ ...rest, quirks: withQuirk ? quirks : [], seed });
    const c = attachChecker(lab);
    let v: Violation | undefined;
    for (const s of quirk.scenario.steps) {
      runStep(lab, parseStep(s));
      if ((v = c.poll())) break;
    }
    v ??= c.finish();
    c.detach();
    return v;
  }

  it.each([1, 2])(
    'gives a violation with the quirk, seed %i',
    async (seed) => {
      const v = await run(true, seed);
      expect(v?.kind).toBe('pending-mismatch');
      // a child pending at the target (a user task's flag goes at its first return to user mode,
      // a kthread's never)
      expect(v?.message).toMatch(/^[ku]child\S+ is pending with patch state 1 in the transition of 'test_klp_livepatch' to 1$/);
      expect(v?.tasks[0].comm).toMatch(/^[ku]child/);
    },
    60_000,
  );

  it.each([1, 2])(
    'none without it, seed %i',
    async (seed) => {
      expect(await run(false, seed)).toBeUndefined();
    },
    60_000,
  );
});
