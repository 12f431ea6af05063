// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The steps of a livepatch session, one string each, the way a selftest script reads --
 * modprobe, echo to sysfs, rmmod, wait. They live in the lab layer because more than the
 * `livepatch` command runs them: a Scenario is a list of them, and the schedule explorer runs a
 * scenario's steps under schedule after schedule.
 *
 * Steps, one argument each:
 *   load:NAME[:k=v,...]     modprobe a patch module and wait for its transition (load_lp)
 *   insmod:NAME[:k=v,...]   modprobe without waiting (a target module, or load_lp_nowait)
 *                           (NAME is a fixture's name, or the path of one's own object file:
 *                           anything with a '/' or ending in .o or .ko)
 *   rmmod:NAME              remove a module
 *   disable:NAME            echo 0 > .../NAME/enabled and wait (disable_lp)
 *   enable:NAME             echo 1 > .../NAME/enabled (reverses a transition in progress)
 *   force:NAME              echo 1 > .../NAME/force
 *   param:NAME:P=V          echo V > /sys/module/NAME/parameters/P
 *   wait:NAME[:timeout=MS]  wait for NAME's transition to finish, at most MS (default 60000)
 *                           emulated milliseconds
 *   run:MS                  let the machine run MS emulated milliseconds
 *   cat:FUNCTION            read a /proc file through its show function (cmdline_proc_show,
 *                           ...) into the log
 *   cat:/sys/PATH           read a sysfs file into the log (/sys/kernel/livepatch/...,
 *                           /sys/module/M/parameters/P, a module's file under /sys/kernel)
 *   sysctl:KEY[=V]          read a sysctl into the log, or write V to it, as procps's sysctl
 *                           (sysctl:kernel.ftrace_enabled=0)
 *   offline:N, online:N     take cpu N down or bring it back up, as
 *                           echo 0|1 > /sys/devices/system/cpu/cpuN/online
 *
 * A step that fails ends the session, as `set -e` would end the script: StepFailure names the
 * step and the kernel's errno, and the caller still reports what happened until then.
 */
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { KernelOops, KernelPanic, SysctlError, SysfsError } from '../kernel/index.ts';
import { FtraceError } from '../ftrace/index.ts';
import { errnoName, ModuleError } from '../elf/index.ts';
import { LivepatchError } from '../livepatch/index.ts';
import { FIXTURES, type Lab } from './selftest.ts';
import { findSysctl, SYSCTLS } from './sysctl.ts';

export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}

/** A step the kernel refused or that could not be done: the session stops there. */
export class StepFailure extends Error {
  constructor(
    readonly step: string,
    readonly reason: string,
    /** The kernel's errno name (ENOENT, EINVAL, ...) when there is one. */
    readonly errno?: string,
  ) {
    super(`step '${step}' failed: ${reason}${errno && !reason.includes(`-${errno}`) ? ` (-${errno})` : ''}`);
    this.name = 'StepFailure';
  }
}

export interface Step {
  /** The argument as given, for messages. */
  arg: string;
  verb: string;
  name: string;
  params: Record<string, string>;
  ms: number;
}

/** How long wait:NAME lets the transition run, in emulated ms, unless it says timeout=MS. */
const WAIT_MS = 60_000;

const VERBS = ['load', 'insmod', 'rmmod', 'disable', 'enable', 'force', 'param', 'wait', 'run', 'cat', 'sysctl', 'offline', 'online'];

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
  if ((verb === 'offline' || verb === 'online') && (rest || !/^\d+$/.test(name)))
    throw new StepError(`step '${arg}': ${verb} takes a cpu number (${verb}:2)`);
  if (verb === 'param' && Object.keys(params).length !== 1) throw new StepError(`step '${arg}': param needs NAME:P=V`);
  if (verb === 'sysctl') {
    const key = name.split('=')[0];
    if (rest || !findSysctl(key))
      throw new StepError(`step '${arg}': sysctl takes KEY or KEY=VALUE, KEY one of ${SYSCTLS.map((s) => s.key).join(', ')}`);
  }
  if (verb === 'wait') {
    const { timeout, ...other } = params;
    if (Object.keys(other).length || (timeout !== undefined && !/^[1-9]\d*$/.test(timeout)))
      throw new StepError(`step '${arg}': wait takes NAME or NAME:timeout=MS, MS a whole number of emulated milliseconds`);
    return { arg, verb, name, params, ms: timeout === undefined ? WAIT_MS : Number(timeout) };
  }
  return { arg, verb, name, params, ms };
}

/** load:/insmod: of one's own object file rather than a fixture's name. */
export function isObjectPath(name: string): boolean {
  return name.includes('/') || name.endsWith('.o') || name.endsWith('.ko');
}

/** The object file a load:/insmod: step names; a missing one fails the step before anything is logged. */
function objectFile(step: Step): string {
  const file = isObjectPath(step.name) ? resolvePath(step.name) : `${FIXTURES}${step.name}.ko`;
  if (!existsSync(file))
    throw new StepFailure(
      step.arg,
      isObjectPath(step.name) ? `no such file ${file}` : `no module '${step.name}' (klp-lab list names them)`,
      'ENOENT',
    );
  return file;
}

/** insmod/modprobe a fixture or a file; returns the module's name (a patch's name in sysfs). */
function loadObject(lab: Lab, step: Step): string {
  const file = objectFile(step);
  const args = Object.entries(step.params).map(([p, v]) => `${p}=${v}`);
  lab.logCmd([isObjectPath(step.name) ? 'insmod' : 'modprobe', step.name, ...args].join(' '));
  return lab.modules.load(file, step.params).name;
}

const sys = (patch: string, attr: string) => `/sys/kernel/livepatch/${patch}/${attr}`;

/**
 * Runs one step on the lab. A step that fails throws StepFailure (a guest oops or panic is
 * rethrown as is: its report is what the user needs).
 */
export function runStep(lab: Lab, step: Step): void {
  const { verb, name, params } = step;
  try {
    switch (verb) {
      case 'load':
        return lab.waitForTransition(loadObject(lab, step));
      case 'insmod':
        loadObject(lab, step);
        return;
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
        return lab.waitForTransition(name, step.ms);
      case 'run':
        lab.advance({ ns: step.ms * 1e6 });
        return;
      case 'cat': {
        lab.logCmd(`cat ${name}`);
        const text = name.startsWith('/sys/') ? lab.sysfsRead(name) : lab.cat(name);
        for (const line of text.replace(/\n$/, '').split('\n')) lab.log(line);
        return;
      }
      case 'offline':
        return lab.cpuDown(Number(name));
      case 'online':
        return lab.cpuUp(Number(name));
      case 'sysctl': {
        // procps's sysctl: "KEY = VALUE" after a write as after a read
        const eq = name.indexOf('=');
        const key = eq < 0 ? name : name.slice(0, eq);
        const sysctl = findSysctl(key)!;
        lab.logCmd(`sysctl ${name}`);
        if (eq >= 0) sysctl.write(lab, `${name.slice(eq + 1)}\n`);
        lab.log(`${key} = ${sysctl.read(lab).replace(/\n$/, '')}`);
        return;
      }
    }
  } catch (e) {
    const err = e instanceof AggregateError ? e.errors[0] : e;
    if (err instanceof KernelOops || err instanceof KernelPanic || err instanceof StepFailure) throw err;
    const errno =
      err instanceof ModuleError || err instanceof SysfsError || err instanceof SysctlError || err instanceof FtraceError
        ? err.errno
        : err instanceof LivepatchError
          ? errnoName(-err.errno)
          : undefined;
    throw new StepFailure(step.arg, (err as Error).message, errno);
  }
}
