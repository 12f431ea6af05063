// SPDX-License-Identifier: GPL-2.0-or-later
// A lab's status (src/lab/status.ts): vCPUs, tasks, the transition's progress and blockers, as
// the control socket's `status` answers it -- the same facts as the end-of-run reports, and a
// look that changes nothing in the guest's history.
import { afterEach, describe, expect, it } from 'vitest';
import { RunningLab } from '../../src/lab/running.ts';
import { ControlServer } from '../../src/lab/control.ts';
import { FIXTURES } from '../../src/lab/selftest.ts';
import { labStatus, type LabStatus } from '../../src/lab/status.ts';
import { patchStates } from '../../src/lab/patch-states.ts';
import { cpuRows, tableObjects } from '../../src/lab/report.ts';
import { useLab } from '../helpers.ts';
import { connect } from './helpers.ts';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const boot = useLab({ cpus: 2, workload: 'default' }, { start: false });

describe('labStatus', () => {
  it('shows a stalled transition: pending tasks, unfinished passes, the kdeep blockers and their function', async () => {
    const lab = await boot();
    lab.k.runFor(20);
    expect(labStatus(lab).transition).toBeNull();
    lab.modules.load(`${FIXTURES}test_klp_deep.ko`);
    lab.k.runFor(2500);
    const s = labStatus(lab, { stacks: true });
    const t = s.transition!;
    expect(t).toMatchObject({ patch: 'test_klp_deep', target: 'patched' });
    expect(t.unfinishedPasses).toBeGreaterThanOrEqual(2);
    expect(t.nextRetryNs).toBeGreaterThan(s.clockNs);
    expect(t.tasks).toBe(s.tasks.length);
    expect(t.pending).toBe(s.tasks.filter((x) => x.patchState === 'unpatched').length);
    expect(t.pending).toBeGreaterThan(0);
    const kdeep = t.blockers.filter((b) => b.comm.startsWith('kdeep/'));
    expect(kdeep.length).toBeGreaterThan(0);
    // each was asleep in deep_c at the last pass, or current on a cpu then ("running", as the
    // kernel says) -- a kdeep thread wakes now and then -- and the sleepers name their function
    for (const b of kdeep) if (b.why !== 'running') expect(b).toMatchObject({ why: 'sleeping on function deep_c', function: 'deep_c' });
    expect(kdeep.some((b) => b.function === 'deep_c')).toBe(true);
    expect(s.patches).toEqual([{ name: 'test_klp_deep', enabled: true, replace: false, forced: false, transition: true }]);
    // the same verdicts and stacks as the livepatch report's
    const report = patchStates(lab);
    expect(
      s.tasks.map(({ pid, comm, patchState, pending, blocked, stack }) => ({ pid, comm, patchState, pending, blocked, stack })),
    ).toEqual(report.map(({ pid, comm, patchState, pending, blocked, stack }) => ({ pid, comm, patchState, pending, blocked, stack })));
    expect(s.tasks.find((x) => x.comm === kdeep[0].comm)!.stack!.trace.some((l) => l.startsWith('deep_c+'))).toBe(true);
    // and the transition completes once forced
    lab.lp.sysfsWrite('/sys/kernel/livepatch/test_klp_deep/force', '1');
    lab.k.runFor(1500);
    const after = labStatus(lab);
    expect(after.transition).toBeNull();
    expect(after.patches[0]).toMatchObject({ name: 'test_klp_deep', transition: false, forced: false });
    expect(after.tasks.every((x) => x.patchState === '-' && !x.pending && x.blocked === undefined)).toBe(true);
  });

  it('shows what each vCPU runs, idle or offline, as the vCPU report does', async () => {
    const lab = await boot({ cpus: 3 });
    lab.k.runFor(20);
    lab.cpuDown(2);
    lab.k.runFor(20);
    const s = labStatus(lab);
    expect(s.cpus.map((c) => c.cpu)).toEqual([0, 1, 2]);
    expect(s.cpus[2]).toMatchObject({ state: 'offline', vcpu: 'dead' });
    const rows = tableObjects(cpuRows(lab.k));
    for (const c of s.cpus) {
      expect(rows[c.cpu].current).toBe(c.current ? `${c.current.comm}:${c.current.pid}` : '-');
      if (c.state === 'idle') expect(c.current!.comm).toMatch(/^swapper\//);
      if (c.state === 'running') expect(c.current!.comm).not.toMatch(/^swapper\//);
    }
    expect(s.log.records).toBe(lab.k.log.cursor());
    expect(s.clockNs).toBe(lab.k.machine.clockNs);
  });

  it('changes nothing: a run looked at every round gives the same log as one never looked at', async () => {
    const run = async (look: boolean) => {
      const lab = await boot();
      let looks = 0;
      if (look)
        lab.k.machine.afterRound.push(() => {
          labStatus(lab, { stacks: true });
          looks++;
        });
      lab.k.runFor(10);
      lab.modules.load(`${FIXTURES}test_klp_deep.ko`);
      lab.k.runFor(1200);
      return { digest: lab.k.log.digest(), looks };
    };
    const quiet = await run(false);
    const looked = await run(true);
    expect(looked.looks).toBeGreaterThan(100);
    expect(looked.digest).toBe(quiet.digest);
  });
});

describe("the control socket's status", () => {
  it('answers with the running lab state, pace included', async () => {
    const r = await RunningLab.start({ cpus: 2, workload: 'default' });
    open.push(r);
    const server = await ControlServer.listen(r);
    open.push(server);
    const c = await connect(server.path);
    open.push(c);
    expect(await c.call({ op: 'insmod', file: `${FIXTURES}test_klp_deep.ko` })).toMatchObject({ ok: true });
    let s: LabStatus & { ok: boolean; pace: unknown; running: boolean };
    do s = (await c.call({ id: 7, op: 'status' })) as unknown as typeof s;
    while (s.transition && s.transition.unfinishedPasses < 1);
    expect(s).toMatchObject({ id: 7, ok: true, pace: 'free', running: true });
    expect(s.transition).toMatchObject({ patch: 'test_klp_deep', target: 'patched' });
    expect(s.transition!.blockers.some((b) => b.function === 'deep_c')).toBe(true);
    expect(s.tasks.every((t) => t.stack === undefined)).toBe(true);
    const withStacks = (await c.call({ op: 'status', stacks: true })) as unknown as LabStatus;
    expect(withStacks.tasks.some((t) => t.stack?.trace.some((l) => l.startsWith('deep_c+')))).toBe(true);
  });
});
