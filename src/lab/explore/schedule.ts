// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A schedule: everything that varies between two runs of one scenario. The machine's seed
 * (which permutes the vCPUs' order every round and seeds the guest's workloads), the quantum
 * (where in the code each vCPU's turn ends, and so where timer interrupts and preemption land),
 * the preemption model when the scenario leaves it open, the scenario's steps kept and how long
 * its run: steps last (what shrinking takes away), and events injected at chosen emulated times
 * between and during the steps: forks, signals, cpu hotplug, a target module coming and going,
 * a write that reverses the transition in progress; a vCPU held up at a preemption point while the
 * others run, as a hypervisor preempts a vCPU; and where livepatch's fake signals come.
 *
 * Schedules are generated from a campaign seed and an index alone, so schedule i of a campaign
 * is the same on every machine, in every worker and in every shard.
 */
import { Prng } from '../../emu/index.ts';
import { parseStep } from '../steps.ts';
import type { Scenario } from '../scenario.ts';

export type EventKind = 'fork' | 'kill' | 'cpu-down' | 'cpu-up' | 'insmod' | 'rmmod' | 'reverse';

export const EVENT_KINDS: readonly EventKind[] = ['fork', 'kill', 'cpu-down', 'cpu-up', 'insmod', 'rmmod', 'reverse'];

/** An event injected into a run, at an emulated time counted from the first step. */
export interface InjectedEvent {
  atMs: number;
  kind: EventKind;
  /**
   * Which one: the cpu of a hotplug event, or a number the event reduces modulo what there is
   * to choose from when it fires (the task a signal goes to), so that it always names something.
   */
  pick: number;
}

/**
 * A vCPU stall: armed `atMs` emulated ms after the first step, vCPU `cpu` stops before its
 * `nth` execution of one instruction of `fn` (one of PREEMPTION_POINTS; the instruction is
 * `insn` reduced modulo the function's instruction count, so it always names one) and stays
 * stopped for `ms` emulated ms while the other vCPUs run: a hypervisor's preemption of a vCPU,
 * exact to the instruction, which no quantum boundary reaches (those fall on block starts).
 */
export interface ScheduledStall {
  atMs: number;
  cpu: number;
  fn: string;
  insn: number;
  nth: number;
  ms: number;
}

export interface Schedule {
  /** Index in its campaign (for the record; the schedule is complete without it). */
  index: number;
  /** The machine's seed, a decimal u64 (JSON has no bigint). */
  seed: string;
  quantum: number;
  preempt: 'none' | 'full';
  /** Indices of the scenario's steps that run, in order (shrinking drops some). */
  steps: number[];
  /** Percent of each run:MS step's milliseconds that run (shrinking shortens them). */
  runPercent: number;
  /** Sorted by time. */
  events: InjectedEvent[];
  /** A vCPU held up at a preemption point, if one is (absent in replay files from before stalls). */
  stall?: ScheduledStall;
  /**
   * A round of fake signals placed, in each transition, at the system call entry of the first
   * user task still to switch that makes one (inject.ts, placeSignals()).
   */
  signalsAtSyscall?: true;
}

/** Quanta a schedule picks from: short ones interleave the vCPUs finely, long ones coarsely. */
export const QUANTA: readonly number[] = [500, 1000, 2000, 3000, 5000, 8000, 13000];
/** At most this many events are injected into one run. */
export const MAX_EVENTS = 4;
/** The module a schedule's insmod/rmmod events load and unload: a target that is no patch. */
export const EVENT_MODULE = 'test_klp_callbacks_mod';

/**
 * The code where a vCPU stopped for long matters: the livepatch handler, which reads a
 * func_stack, func->transition and the task's patch state one after the other, and the switch
 * point, where a task takes its pending flag and the target state. Each instruction of them is
 * a preemption point (read from the image's symbol table when the run arms the stall).
 */
export const PREEMPTION_POINTS: readonly string[] = ['klp_ftrace_handler', 'klp_update_patch_state'];
/** How long a stall lasts, emulated ms: a short one, and ones as long as a transition's passes. */
export const STALL_MS: readonly number[] = [10, 250, 500, 1000];

/** Emulated milliseconds over which a scenario's events are spread: its runs, and a second per wait. */
export function horizonMs(scenario: Scenario): number {
  let ms = 0;
  for (const arg of scenario.steps) {
    const s = parseStep(arg);
    if (s.verb === 'run') ms += s.ms;
    else if (s.verb === 'wait' || s.verb === 'load' || s.verb === 'disable') ms += 1000;
  }
  return Math.max(ms, 100);
}

/** A generator for schedule `index` of the campaign seeded `campaign`: splitmix-style mixing of both. */
function schedulePrng(campaign: bigint, index: number): Prng {
  const mixed = BigInt.asUintN(64, campaign * 0x9e3779b97f4a7c15n + BigInt(index) * 0xd1b54a32d192ed03n + 0x632be59bd9b4e019n);
  return new Prng(mixed);
}

/**
 * The stall of schedule `index`, from a generator of its own: a schedule's other elements are
 * what they were before stalls existed, so a campaign's schedules differ from then only by it.
 * Half the schedules have one.
 */
function generateStall(scenario: Scenario, campaign: bigint, index: number): ScheduledStall | undefined {
  const r = schedulePrng(campaign ^ 0x5354414c4cn, index);
  if (r.below(2)) return undefined;
  const atMs = r.below(horizonMs(scenario));
  const cpu = r.below(scenario.boot.cpus ?? 4);
  // the instruction is reduced modulo the function's count when the run arms it: schedules are
  // made without the image
  const fn = PREEMPTION_POINTS[r.below(PREEMPTION_POINTS.length)];
  const insn = r.below(256);
  const nth = 1 + r.below(4);
  const ms = STALL_MS[r.below(STALL_MS.length)];
  return { atMs, cpu, fn, insn, nth, ms };
}

/** Schedule `index` of the campaign seeded `campaign` for `scenario`. */
export function generateSchedule(scenario: Scenario, campaign: bigint, index: number): Schedule {
  const r = schedulePrng(campaign, index);
  const seed = (BigInt(r.next()) << 32n) | BigInt(r.next());
  const quantum = QUANTA[r.below(QUANTA.length)];
  const preempt = scenario.boot.preempt ?? (r.below(2) ? 'full' : 'none');
  const horizon = horizonMs(scenario);
  const cpus = scenario.boot.cpus ?? 4;
  const events: InjectedEvent[] = [];
  // a third of the schedules inject nothing: the interleavings alone
  const n = r.below(3) === 0 ? 0 : 1 + r.below(MAX_EVENTS);
  for (let i = 0; i < n && events.length < MAX_EVENTS; i++) {
    const kind = EVENT_KINDS[r.below(EVENT_KINDS.length)];
    const atMs = r.below(horizon);
    if (kind === 'cpu-down' || kind === 'cpu-up') {
      if (cpus < 2) continue;
      // cpu 0 never goes down; a cpu taken down comes back up later
      const cpu = 1 + r.below(cpus - 1);
      events.push({ atMs, kind: 'cpu-down', pick: cpu });
      if (events.length < MAX_EVENTS) events.push({ atMs: atMs + r.below(horizon), kind: 'cpu-up', pick: cpu });
    } else if (kind === 'insmod' || kind === 'rmmod') {
      events.push({ atMs, kind: 'insmod', pick: 0 });
      if (events.length < MAX_EVENTS) events.push({ atMs: atMs + r.below(horizon), kind: 'rmmod', pick: 0 });
    } else {
      events.push({ atMs, kind, pick: r.next() });
    }
  }
  events.sort((a, b) => a.atMs - b.atMs || EVENT_KINDS.indexOf(a.kind) - EVENT_KINDS.indexOf(b.kind));
  const stall = generateStall(scenario, campaign, index);
  // drawn from a stream of its own, so that the draws above stay what they were before it
  const signalsAtSyscall = schedulePrng(campaign ^ SIGNALS_STREAM, index).below(3) === 0;
  return {
    index,
    seed: seed.toString(),
    quantum,
    preempt,
    steps: scenario.steps.map((_s, i) => i),
    runPercent: 100,
    events,
    ...(stall ? { stall } : {}),
    ...(signalsAtSyscall ? { signalsAtSyscall } : {}),
  };
}

/**
 * "cpu1 at klp_ftrace_handler instruction 146 mod its count, hit 2 after 300ms, for 500ms" (the
 * run's log line names the instruction's address).
 */
export function describeStall(st: ScheduledStall): string {
  return `cpu${st.cpu} at ${st.fn} instruction ${st.insn} mod its count, hit ${st.nth} after ${st.atMs}ms, for ${st.ms}ms`;
}

/** Mixed into the campaign seed for the draw of signalsAtSyscall. */
const SIGNALS_STREAM = 0x8df1947c71een;

/** One line for a person: "seed 123 quantum 2000 preempt=full, 3 events: fork@120ms, ...". */
export function describeSchedule(s: Schedule, scenario?: Scenario): string {
  const ev = s.events.map((e) => `${e.kind}${e.kind.startsWith('cpu-') ? ` cpu${e.pick}` : ''}@${e.atMs}ms`);
  const dropped = scenario && s.steps.length < scenario.steps.length ? `, ${scenario.steps.length - s.steps.length} steps dropped` : '';
  const runs = s.runPercent !== 100 ? `, runs at ${s.runPercent}%` : '';
  const signals = s.signalsAtSyscall ? ', fake signals at a system call entry' : '';
  return `#${s.index}: seed ${s.seed} quantum ${s.quantum} preempt=${s.preempt}${dropped}${runs}${signals}, ${
    ev.length ? `${ev.length} event${ev.length > 1 ? 's' : ''}: ${ev.join(' ')}` : 'no events'
  }${s.stall ? `, stall ${describeStall(s.stall)}` : ''}`;
}
