// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab livepatch STEP...`: a livepatch session on a booted lab kernel, written the way a
 * selftest script reads -- modprobe, echo to sysfs, rmmod, wait -- followed by what happened:
 * the kernel log from the first step on (the per-task debug lines included), the sysfs tree
 * with its values, and every task's patch state.
 *
 * Steps, one argument each:
 *   load:NAME[:k=v,...]     modprobe a patch module and wait for its transition (load_lp)
 *   insmod:NAME[:k=v,...]   modprobe without waiting (a target module, or load_lp_nowait)
 *   rmmod:NAME              remove a module
 *   disable:NAME            echo 0 > .../NAME/enabled and wait (disable_lp)
 *   enable:NAME             echo 1 > .../NAME/enabled (reverses a transition in progress)
 *   force:NAME              echo 1 > .../NAME/force
 *   param:NAME:P=V          echo V > /sys/module/NAME/parameters/P
 *   wait:NAME               wait for NAME's transition to finish
 *   run:MS                  let the machine run MS emulated milliseconds
 *   cat:FUNCTION            read a /proc-like guest function (lab_cmdline_show, ...) into the log
 */
import type { Lab } from '../lab/selftest.ts';
import { KernelOops, KernelPanic } from '../kernel/kernel.ts';
import { allTasks } from '../kernel/task.ts';
import { KLP_UNDEFINED } from '../livepatch/structs.ts';
import { Livepatch } from '../livepatch/core.ts';
import { sysfsMode } from '../livepatch/sysfs.ts';
import { switchVerdict } from '../livepatch/transition.ts';

export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}

export interface Step {
  verb: string;
  name: string;
  params: Record<string, string>;
  ms: number;
}

const VERBS = ['load', 'insmod', 'rmmod', 'disable', 'enable', 'force', 'param', 'wait', 'run', 'cat'];

/** Parses one step argument; StepError names what is wrong with it. */
export function parseStep(arg: string): Step {
  const [verb, name = '', rest = ''] = arg.split(':');
  if (!VERBS.includes(verb)) throw new StepError(`unknown step '${arg}': steps are ${VERBS.map((v) => `${v}:`).join(' ')}`);
  if (!name) throw new StepError(`step '${arg}' needs an argument after '${verb}:'`);
  const params: Record<string, string> = {};
  for (const kv of rest ? rest.split(',') : []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new StepError(`step '${arg}': '${kv}' is not name=value`);
    params[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const ms = verb === 'run' ? Number(name) : 0;
  if (verb === 'run' && !(ms >= 0)) throw new StepError(`step '${arg}': run needs a number of milliseconds`);
  if (verb === 'param' && Object.keys(params).length !== 1) throw new StepError(`step '${arg}': param needs NAME:P=V`);
  return { verb, name, params, ms };
}

const sys = (patch: string, attr: string) => `/sys/kernel/livepatch/${patch}/${attr}`;

/** Runs one step on the lab; errors of the operation (a refused load, -EBUSY) go to the log, as a shell prints them. */
export function runStep(lab: Lab, step: Step): void {
  const { verb, name, params } = step;
  try {
    switch (verb) {
      case 'load':
        return lab.loadLp(name, params);
      case 'insmod':
        return lab.loadLpNowait(name, params);
      case 'rmmod':
        return lab.unloadMod(name);
      case 'disable':
        return lab.disableLp(name);
      case 'enable':
      case 'force':
        lab.logCmd(`echo 1 > ${sys(name, verb === 'enable' ? 'enabled' : 'force')}`);
        return lab.lp.sysfsWrite(sys(name, verb === 'enable' ? 'enabled' : 'force'), '1');
      case 'param': {
        const [[p, v]] = Object.entries(params);
        return lab.setParam(name, p, v);
      }
      case 'wait':
        return lab.waitForTransition(name);
      case 'run':
        lab.k.runFor(step.ms);
        return;
      case 'cat':
        lab.logCmd(`cat ${name}`);
        for (const line of lab.cat(name).replace(/\n$/, '').split('\n')) lab.log(line);
        return;
    }
  } catch (e) {
    const err = e instanceof AggregateError ? e.errors[0] : e;
    // a guest oops stops the machine: its report is what the user needs, then the session ends
    if (err instanceof KernelOops || err instanceof KernelPanic) throw err;
    lab.k.log.hostPrintk(3, `${verb}: ${(err as Error).message}`, lab.k.machine.clockNs);
  }
}

/** Every sysfs entry of every patch with its mode and, for readable attributes, its value. */
export function sysfsReport(lp: Livepatch): string[] {
  return lp.sysfsTree().map((path) => {
    const mode = sysfsMode(lp, path);
    const readable = !path.endsWith('/') && mode[1] === 'r';
    return `${mode} ${path}${readable ? ` = ${lp.sysfsRead(path)}` : ''}`;
  });
}

/**
 * Each task's patch state: what the transition sees (pending flag, state) and, for a task
 * still to switch, what stops it now (the check klp_try_switch_task() would make), ps-style.
 */
export function patchStateReport(lab: Lab): string[] {
  const lp = lab.lp;
  const rows = allTasks(lab.k).map((t) => {
    const state = t.patchState === KLP_UNDEFINED ? '-' : Livepatch.stateName(t.patchState);
    const pending = t.testTifFlag('TIF_PATCH_PENDING');
    let blocked = '';
    if (lp.transitionPatch && t.patchState !== lp.targetState) {
      const v = switchVerdict(lp, t, null, 0);
      blocked = v.ok ? 'can switch now' : v.why === 'sleeping on function' ? `sleeping on function ${v.func}` : v.why;
    }
    return [String(t.pid), t.comm, state, pending ? 'pending' : '', blocked];
  });
  const table = [['PID', 'COMM', 'PATCH', 'FLAG', 'SWITCH'], ...rows];
  const w = [0, 1, 2, 3].map((i) => Math.max(...table.map((r) => r[i].length)));
  return table.map((r) => r.map((c, i) => (i < 4 ? c.padEnd(w[i]) : c)).join('  ').trimEnd());
}
