// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The trace of the README's livepatch session, read by a consumer the project did not write:
 * the DevTools performance panel's own trace engine (@paulirish/trace_engine, the code behind
 * Chromium's Performance panel, published from the Chromium tree). It finds the tracks as
 * threads of processes, the slices as each thread's entries and the flows between slices; it
 * does not model counter events (neither do speedscope's importers), so those are read from
 * the JSON as Perfetto would read them.
 */
import { describe, expect, it } from 'vitest';
import * as TraceEngine from '@paulirish/trace_engine';
import { withLab } from '../helpers.ts';
import { parseStep, runStep } from '../../src/lab/steps.ts';
import { captureSession, chromeTrace, type ChromeTrace, type TraceEvent } from '../../src/cli/trace.ts';
import { perCpuAddress } from '../../src/kernel/index.ts';
import type { Lab } from '../../src/lab/index.ts';

// the README's session
const STEPS = [
  'load:test_klp_livepatch',
  'cat:cmdline_proc_show',
  'insmod:test_klp_deep',
  'run:3000',
  'force:test_klp_deep',
  'wait:test_klp_deep',
];

/** Interrupts each cpu took, by the guest's own count (pcpu::irq_count). */
const irqCounts = (lab: Lab) =>
  Array.from({ length: lab.k.nrCpus }, (_, c) =>
    Number(lab.k.mem.u64(perCpuAddress(lab.k, c) + BigInt(lab.k.layout.offset('pcpu', 'irq_count')))),
  );

/** The README's session, traced as `--trace` traces it (with the entry records). */
function readmeSession(): Promise<{ trace: ChromeTrace; irqs: number[]; hz: number; seconds: number }> {
  return withLab({ cpus: 4, workload: 'default', traceEntry: true }, (lab) => {
    lab.dynamicDebug.write('file kernel/livepatch/* +p');
    for (const s of STEPS) runStep(lab, parseStep(s));
    const m = lab.k.machine;
    return {
      trace: chromeTrace([captureSession(lab.k, 'livepatch', lab.modules.symbolizer)]),
      irqs: irqCounts(lab),
      hz: 1e9 / m.tickNs,
      seconds: m.clockNs / 1e9,
    };
  });
}
const readmeTrace = async () => (await readmeSession()).trace;

interface Entry {
  name: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
}
interface Thread {
  name?: string;
  entries: Entry[];
}
interface Parsed {
  Renderer: { processes: Map<number, { threads: Map<number, Thread> }> };
  Flows: { flows: Entry[][] };
}

/** The trace through DevTools' engine (in Node it only needs a DOMRect). */
async function devtoolsParse(trace: ChromeTrace): Promise<Parsed> {
  const g = globalThis as { DOMRect?: unknown };
  g.DOMRect ??= class {
    constructor(
      readonly x = 0,
      readonly y = 0,
      readonly width = 0,
      readonly height = 0,
    ) {}
  };
  const engine = TraceEngine.Processor.TraceProcessor.createWithAllHandlers();
  // a copy: the engine annotates the events it is given
  await engine.parse(structuredClone(trace.traceEvents) as never, {});
  return engine.data as unknown as Parsed;
}

/** Process name -> its threads by name, from the trace's own metadata (the engine keys processes by pid). */
function tracks(trace: ChromeTrace, parsed: Parsed): Map<string, Map<string, Entry[]>> {
  const names = new Map<number, string>();
  for (const e of trace.traceEvents) if (e.ph === 'M' && e.name === 'process_name') names.set(e.pid, (e.args as { name: string }).name);
  const out = new Map<string, Map<string, Entry[]>>();
  for (const [pid, p] of parsed.Renderer.processes) {
    const threads = new Map<string, Entry[]>();
    for (const t of p.threads.values()) threads.set(t.name ?? '?', t.entries);
    out.set(names.get(pid) ?? `pid ${pid}`, threads);
  }
  return out;
}

const names = (entries: Entry[] | undefined) => (entries ?? []).map((e) => e.name);

describe('the trace of a livepatch session', () => {
  it('has every track, slice and flow in the DevTools trace engine, and its counter', async () => {
    const { trace, irqs, hz, seconds } = await readmeSession();
    const parsed = await devtoolsParse(trace);
    const t = tracks(trace, parsed);

    // a track per vCPU: which task runs, and idle
    const cpus = t.get('livepatch: vCPUs')!;
    expect([...cpus.keys()].sort()).toEqual(['cpu0', 'cpu1', 'cpu2', 'cpu3']);
    for (const c of cpus.values()) expect(names(c)).toContain('idle');
    expect(new Set([...cpus.values()].flatMap(names))).toContain('kdeep/0');
    // and the interrupts it took, nested in what it ran: as many as the guest counted, a tick
    // for each 1/HZ the cpu was online (all of the session here), and IPIs
    const isIrq = (e: Entry) => ['timer', 'resched IPI', 'call function IPI', 'host event'].includes(e.name);
    const ticks: number[] = [];
    for (let c = 0; c < 4; c++) {
      const entries = cpus.get(`cpu${c}`)!;
      const inIrq = entries.filter(isIrq);
      // (the guest counts an interrupt as it enters it: one the session ended in, on its way in
      // or out, has no complete slice)
      expect(irqs[c] - inIrq.length, `cpu${c}: ${inIrq.length} slices, ${irqs[c]} counted`).toBeGreaterThanOrEqual(0);
      expect(irqs[c] - inIrq.length, `cpu${c}: ${inIrq.length} slices, ${irqs[c]} counted`).toBeLessThanOrEqual(1);
      const timer = inIrq.filter((e) => e.name === 'timer').length;
      expect(timer, `cpu${c} ticks`).toBeLessThanOrEqual(Math.ceil(hz * seconds));
      ticks.push(timer);
      // each inside the slice of the task or idle loop it interrupted, never across two
      const runs = entries.filter((e) => !isIrq(e));
      for (const i of inIrq)
        expect(
          runs.some((r) => r.ts <= i.ts && i.ts + i.dur! <= r.ts + r.dur!),
          `cpu${c} ${i.name} at ${i.ts}`,
        ).toBe(true);
    }
    expect(Math.min(...ticks)).toBeGreaterThan(0.5 * hz * seconds);
    expect(new Set([...cpus.values()].flatMap(names))).toContain('resched IPI');

    // a user task's time in user mode, and what had it in the kernel in between: its system
    // calls, and the interrupts that took it from user mode
    const hammer = [...t.entries()].find(([name]) => /^livepatch: uhammer \(pid \d+, user task\)$/.test(name))![1];
    const mode = hammer.get('user/kernel')!;
    expect(names(mode)).toEqual(expect.arrayContaining(['user', 'syscall getpid', 'syscall work', 'syscall nanosleep', 'timer']));
    for (let i = 1; i < mode.length; i++) {
      // user and kernel alternate, one after the other
      expect(mode[i].name === 'user', `at ${mode[i].ts}`).not.toBe(mode[i - 1].name === 'user');
      expect(mode[i].ts).toBeGreaterThanOrEqual(mode[i - 1].ts + mode[i - 1].dur!);
    }
    // kernel threads are always in the kernel: no such track
    expect(t.get('livepatch: kdeep/0 (pid 4, kernel thread)')!.has('user/kernel')).toBe(false);

    // the transitions as slices, with their phases inside
    const lp = t.get('livepatch: livepatch')!;
    const transitions = names(lp.get('transitions'));
    expect(transitions).toEqual(expect.arrayContaining(['patching test_klp_livepatch', 'patching test_klp_deep', 'init', 'completing']));
    expect(transitions).toContain('patching: waiting for tasks');
    const passes = lp.get('klp_try_complete_transition')!;
    expect(passes.length).toBeGreaterThanOrEqual(4);
    expect(names(passes).every((n) => /^pass \d+$/.test(n))).toBe(true);
    expect(names(lp.get('signals and force'))).toContain('force');
    expect(names(lp.get('modules'))).toEqual(expect.arrayContaining(['load test_klp_livepatch', 'load test_klp_deep']));
    expect(names(lp.get('sysfs writes'))).toContain('echo 1 > /sys/kernel/livepatch/test_klp_deep/force');
    // the kernel log as instants (the engine keeps no instant events of its own threads)
    const printk = trace.traceEvents.filter((e) => e.ph === 'i' && e.cat === 'printk').map((e) => e.name);
    expect(printk).toContain("livepatch: 'test_klp_deep': patching complete");

    // a track per task: run/sleep, patch state, the verdicts of klp_try_switch_task
    const kdeep = t.get('livepatch: kdeep/0 (pid 4, kernel thread)')!;
    expect(names(kdeep.get('sched'))).toEqual(expect.arrayContaining(['sleeping', 'running on cpu0']));
    const states = names(kdeep.get('patch state'));
    expect(states).toEqual(expect.arrayContaining(['unpatched (pending)', 'patched']));
    const verdicts = names(kdeep.get('klp_try_switch_task'));
    expect(verdicts.some((v) => v.startsWith('sleeping on function '))).toBe(true);

    // the first pass switched the sleeping tasks outside the patched functions
    const kparked = t.get('livepatch: kparked (pid 9, kernel thread)')!;
    expect(names(kparked.get('klp_try_switch_task'))).toContain('switched: stack checked');

    // flows from a blocking function's verdict to the pass it kept from completing
    const flows = parsed.Flows.flows;
    expect(flows.length).toBeGreaterThan(0);
    const blocking = flows.filter((f) => f[0].name.startsWith('sleeping on function ') && /^pass \d+$/.test(f[1].name));
    expect(blocking.length).toBeGreaterThan(0);
    for (const f of blocking) expect(f[1].ts).toBeGreaterThan(f[0].ts);
    // each pass's record counts the tasks it left behind: one flow each
    for (const p of passes) {
      const left = (trace.traceEvents.find((e) => e.ph === 'X' && e.name === p.name && e.ts === p.ts)!.args as { left: number }).left;
      expect(flows.filter((f) => f[1].name === p.name && f[1].ts === p.ts)).toHaveLength(left);
    }

    // the counter of tasks still pending: up at each start, down to 0 when a transition completes
    const pending = trace.traceEvents
      .filter((e: TraceEvent) => e.ph === 'C' && e.name === 'tasks pending')
      .map((e) => (e.args as { pending: number }).pending);
    expect(Math.max(...pending)).toBeGreaterThan(10);
    expect(pending.at(-1)).toBe(0);
  }, 120_000);

  it("has a user task's system calls as it made them, and its signal handler in user mode", async () => {
    const { trace, seen, EINTR } = await withLab({ cpus: 2, workload: 'futex-sleep', traceEntry: true }, (lab) => {
      const k = lab.k;
      // what the program itself counted: futex_wait's returns by result, its handler's runs
      const seen = () =>
        Object.fromEntries(
          ['futex_returns_ok', 'futex_returns_eintr', 'futex_returns_eagain', 'futex_returns_other', 'futex_handler_runs'].map((s) => [
            s.replace(/^futex_/, ''),
            Number(k.mem.u64(k.sym(s))),
          ]),
        );
      const sleeper = () => [...k.forEachTask()].find((t) => t.comm === 'ufsleep')!;
      const settled = (ok: number, handled: number) => () =>
        seen().returns_ok === ok && seen().handler_runs === handled && sleeper().stateChar === 'S';
      expect(k.run({ ns: 1e9, until: settled(0, 0) }).untilMet).toBe(true);
      for (let i = 1; i <= 3; i++) {
        k.mem.setU32(k.sym('futex_release'), 1);
        expect(k.run({ ns: 1e9, until: settled(i, 0) }).untilMet).toBe(true);
      }
      expect(lab.kill(sleeper().pid, k.layout.constant('SIGUSR1'))).toBe(0);
      expect(k.run({ ns: 1e9, until: settled(3, 1) }).untilMet).toBe(true);
      return {
        trace: chromeTrace([captureSession(k, 'futex', lab.modules.symbolizer)]),
        seen: seen(),
        EINTR: k.layout.constant('EINTR'),
      };
    });
    expect(seen).toEqual({ returns_ok: 3, returns_eintr: 1, returns_eagain: 0, returns_other: 0, handler_runs: 1 });
    const t = tracks(trace, await devtoolsParse(trace));
    const [, ufsleep] = [...t.entries()].find(([name]) => /^futex: ufsleep \(pid \d+, user task\)$/.test(name))!;
    const mode = ufsleep.get('user/kernel')!;
    const raw = (e: Entry) =>
      trace.traceEvents.find((r) => r.ph === 'X' && r.pid === e.pid && r.tid === e.tid && r.ts === e.ts && r.name === e.name)!;
    const ret = (e: Entry) => (raw(e).args as { ret?: number }).ret;
    // every futex_wait it made, with what the program saw it return: three woken (0), one
    // interrupted by the signal (-EINTR), one still asleep at the end
    const waits = mode.filter((e) => e.name === 'syscall futex_wait');
    expect(waits.map(ret)).toEqual([0, 0, 0, -EINTR, undefined]);
    // the handler's own call back into the kernel, its sigaction, nothing else
    expect(mode.filter((e) => e.name === 'syscall rt_sigreturn')).toHaveLength(1);
    expect(new Set(names(mode.filter((e) => e.name.startsWith('syscall '))))).toEqual(
      new Set(['syscall rt_sigaction', 'syscall futex_wait', 'syscall rt_sigreturn']),
    );
    // the time in user mode: one stretch after each call returned, the handler's among them
    const user = mode.filter((e) => e.name === 'user');
    expect(user.length).toBeGreaterThanOrEqual(waits.length);
    const ips = user.map((e) => (raw(e).args as { ip: string }).ip);
    expect(ips.filter((ip) => ip.startsWith('on_futex_signal+0x0/'))).toHaveLength(1);
    // its first return to user mode starts the program; then one return from each futex_wait
    // that finished (the interrupted one's after the handler's rt_sigreturn)
    expect(ips[0]).toMatch(/^futex_sleeper\+0x0\//);
    expect(ips.filter((ip) => /^futex_sleeper\+0x[1-9a-f]/.test(ip))).toHaveLength(waits.length - 1);
  }, 120_000);

  it('has the callbacks of a patch, its disable and its module going', async () => {
    const trace = await withLab({ cpus: 2, workload: 'idle' }, (lab) => {
      for (const s of ['load:test_klp_callbacks_demo', 'disable:test_klp_callbacks_demo', 'rmmod:test_klp_callbacks_demo'])
        runStep(lab, parseStep(s));
      return chromeTrace([captureSession(lab.k, 'callbacks', lab.modules.symbolizer)]);
    });
    const t = tracks(trace, await devtoolsParse(trace));
    const lp = t.get('callbacks: livepatch')!;
    expect(names(lp.get('callbacks'))).toEqual(['pre_patch vmlinux', 'post_patch vmlinux', 'pre_unpatch vmlinux', 'post_unpatch vmlinux']);
    expect(names(lp.get('transitions'))).toEqual(
      expect.arrayContaining(['patching test_klp_callbacks_demo', 'unpatching test_klp_callbacks_demo']),
    );
    expect(names(lp.get('modules'))).toEqual(expect.arrayContaining(['load test_klp_callbacks_demo', 'unload test_klp_callbacks_demo']));
    expect(names(lp.get('sysfs writes'))).toContain('echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled');
  }, 120_000);

  it("ends with each task's patch state and pending flag as guest memory has them", async () => {
    await withLab({ cpus: 4, workload: 'default' }, (lab) => {
      for (const s of ['insmod:test_klp_deep', 'run:2500']) runStep(lab, parseStep(s));
      expect(lab.lp.transitionPatch?.name).toBe('test_klp_deep');
      const trace = chromeTrace([captureSession(lab.k, '', lab.modules.symbolizer)]);
      const pids = new Map<string, number>();
      for (const e of trace.traceEvents) if (e.ph === 'M' && e.name === 'process_name') pids.set((e.args as { name: string }).name, e.pid);
      const endUs = lab.k.machine.clockNs / 1000;
      for (const task of lab.k.tasks()) {
        const label = task.isIdle
          ? `swapper/${task.cpu} (idle)`
          : `${task.comm} (pid ${task.pid}, ${task.isKthread ? 'kernel thread' : 'user task'})`;
        const pid = pids.get(label);
        expect(pid, label).toBeDefined();
        const last = trace.traceEvents.filter((e) => e.ph === 'X' && e.pid === pid && e.tid === 2).at(-1);
        const pending = task.testTifFlag('TIF_PATCH_PENDING');
        expect(last?.name, label).toBe(`${task.patchState === 1 ? 'patched' : 'unpatched'}${pending ? ' (pending)' : ''}`);
        expect(last!.ts! + last!.dur!, label).toBeCloseTo(endUs, 6);
      }
    });
  }, 120_000);

  it('gives the same trace for the same session', async () => {
    const a = JSON.stringify(await readmeTrace());
    const b = JSON.stringify(await readmeTrace());
    expect(b).toBe(a);
  }, 120_000);
});
