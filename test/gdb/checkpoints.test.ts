// SPDX-License-Identifier: GPL-2.0-or-later
// Checkpoints of a session's run (src/emu/checkpoint.ts, src/gdb/checkpoints.ts) are exact: a
// replay of a livepatch session that goes on from checkpoints instead of emulating up to them
// comes, at a late round and at the session's end, to the state the session reaches run
// straight -- every vCPU's registers (gdb's set and the system registers), its counts and
// pending interrupts, a hash of all guest RAM, the emulated time and the event log -- and the
// run that took the checkpoints is itself that run.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { withLab } from '../helpers.ts';
import { parseStep, runStep, type Lab } from '../../src/lab/index.ts';
import { uc } from '../../src/emu/index.ts';
import { readRegisters } from '../../src/gdb/registers.ts';
import { SessionCheckpoints } from '../../src/gdb/checkpoints.ts';

const OPTS = { cpus: 3, workload: 'default', seed: 7 } as const;
const STEPS = ['load:test_klp_livepatch', 'run:150', 'insmod:test_klp_deep', 'run:200', 'cat:cmdline_proc_show', 'run:150'];

interface State {
  rounds: number;
  clockNs: number;
  cpus: string[];
  ram: string;
  log: string;
  events: number;
  hostWrites: number;
  hostEffects: number;
}

function capture(lab: Lab): State {
  const m = lab.k.machine;
  const sys = [uc.UC_X86_REG_CR0, uc.UC_X86_REG_CR3, uc.UC_X86_REG_CR4];
  return {
    rounds: m.rounds,
    clockNs: m.clockNs,
    cpus: m.cpus.map(
      (c) =>
        `${readRegisters(c).toString('hex')} ${sys.map((r) => c.reg(r).toString(16)).join(',')} ` +
        `idt ${c.uc.regReadMmr(uc.UC_X86_REG_IDTR).base.toString(16)} insns ${c.insns} pending ${c.ctl.hasPending} halted ${c.halted}`,
    ),
    ram: createHash('sha256').update(m.mem.buffer).digest('hex'),
    log: lab.k.log.digest(),
    events: lab.k.log.cursor(),
    hostWrites: m.mem.hostWrites,
    hostEffects: m.hostEffects,
  };
}

/** The session on a fresh lab; `onRound` at the end of every round, the state at round `at` and at the end. */
async function session(at: number, onRound: (lab: Lab) => void = () => {}): Promise<{ at?: State; end: State }> {
  return withLab(OPTS, (lab) => {
    let mid: State | undefined;
    lab.k.machine.afterRound.push((m) => {
      onRound(lab);
      if (m.rounds === at) mid = capture(lab);
    });
    for (const s of STEPS) runStep(lab, parseStep(s));
    return { at: mid, end: capture(lab) };
  });
}

describe('checkpoints of a session', () => {
  it('replays from checkpoints to the state of the straight run, registers, RAM and event log alike', async () => {
    // the run that takes the checkpoints, as a debugged session's first run does
    const cps = new SessionCheckpoints(300_000);
    const recorded = await session(-1, (lab) => cps.take(lab.k));
    expect(cps.marks.length).toBeGreaterThan(5);
    const late = Math.floor(recorded.end.rounds * 0.8);

    const straight = await session(late);
    expect(straight.at!.rounds).toBe(late);
    expect(recorded.end).toEqual(straight.end);

    // the replay: at each round's end, on from the latest checkpoint ahead under the same host state
    let restored = 0;
    let skipped = 0n;
    const replayed = await session(late, (lab) => {
      const before = lab.k.machine.insns;
      const mark = cps.skip(lab.k, (k) => k.ck.rounds <= late);
      if (!mark) return;
      restored++;
      skipped += mark.ck.insns - before;
    });
    expect(restored).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(BigInt(recorded.end.rounds) * 100n);
    expect(replayed.at).toEqual(straight.at);
    expect(replayed.end).toEqual(straight.end);
  });
});
