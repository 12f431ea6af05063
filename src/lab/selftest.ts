// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's livepatch selftests' toolkit (tools/testing/selftests/livepatch/functions.sh),
 * for lab scenarios: load and unload modules and patches, write sysfs, wait for transitions,
 * and compare the kernel log since the test began with the expected lines. Commands are logged
 * into the kernel log as "% cmd" lines, as the selftests do, so the expected output reads the
 * same.
 */
import { fileURLToPath } from 'node:url';
import {
  type BootOptions,
  type Kernel,
  callGuest,
  type HostTask,
  cpuDown,
  cpuUp,
  type Modules,
  kobjectShow,
  seqRead,
  SysctlError,
} from '../kernel/index.ts';
import { type Livepatch, type LivepatchOptions, sysfsMode } from '../livepatch/index.ts';
import type { Ftrace } from '../ftrace/index.ts';
import type { RunLimits, RunResult } from '../emu/index.ts';
import { ERRNO, ModuleError, strerror } from '../elf/index.ts';
import { FtraceError } from '../ftrace/index.ts';
import { bootLab } from './lab.ts';
import { findModule } from './modprobe.ts';
import { findSysctl } from './sysctl.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export class SelftestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelftestError';
  }
}

export interface LabOptions extends BootOptions, LivepatchOptions {
  /**
   * Where modprobe looks for a module, first folder first (see modprobe.ts); the lab's
   * fixtures are always searched last.
   */
  modulePath?: readonly string[];
}

export class Lab {
  /** Log cursor at the start of the current test (start_test). */
  private mark = 0;
  /** The file each module name was loaded from, in load order: which build a test ran. */
  readonly loadedFrom = new Map<string, string>();
  /**
   * How the lab lets emulated time pass while it waits (waitForTransition, the run: step): the
   * kernel's run() unless someone needs to act between rounds -- the schedule explorer puts
   * one here that injects its events at their emulated times.
   */
  advance: (limits: RunLimits) => RunResult = (limits) => this.k.run(limits);

  private constructor(
    readonly k: Kernel,
    readonly modules: Modules,
    readonly ftrace: Ftrace,
    readonly lp: Livepatch,
    readonly modulePath: readonly string[],
  ) {}

  /** Boots a lab (src/lab/lab.ts's bootLab(), where its parts are assembled). */
  static async boot(opts: LabOptions = {}): Promise<Lab> {
    const { modulePath = [], ...bootOpts } = opts;
    const parts = await bootLab(bootOpts);
    return new Lab(parts.kernel, parts.modules, parts.ftrace, parts.livepatch, [...modulePath, FIXTURES]);
  }

  /** A line in the kernel log, as the selftests' log() (echo > /dev/kmsg). */
  log(text: string): void {
    this.k.log.hostPrintk(6, text, this.k.machine.clockNs);
  }

  /** A "% cmd" line in the kernel log. */
  logCmd(cmd: string): void {
    this.log(`% ${cmd}`);
  }

  /**
   * /sys/kernel/debug/dynamic_debug/control: `read()` lists every pr_debug site, `write(q)`
   * applies the kernel's queries (DdebugQueryError, -EINVAL, for a bad one; nothing applied).
   */
  get dynamicDebug(): { read(): string; write(query: string): number } {
    return this.k.dynamicDebug;
  }

  /**
   * functions.sh's setup_config, the dynamic debug part: the core's pr_debug lines on, but
   * not the per-task ones of klp_try_switch_task.
   */
  setupConfig(): void {
    this.dynamicDebug.write('file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n');
  }

  /**
   * set_ftrace_enabled [--fail] VALUE: `sysctl -q kernel.ftrace_enabled=VALUE`, then the value
   * read back into the log; a refusal is procps's complaint in the log when it may fail
   * (canFail), else the script's skip.
   */
  setFtraceEnabled(value: string, canFail = false): void {
    const sysctl = findSysctl('kernel.ftrace_enabled')!;
    let err = '';
    try {
      sysctl.write(this, `${value}\n`);
    } catch (e) {
      if (!(e instanceof FtraceError || e instanceof SysctlError)) throw e;
      err = `sysctl: setting key "${sysctl.key}": ${strerror(-ERRNO[e.errno])}`;
    }
    const result = sysctl.read(this).trim();
    if (result !== value) {
      if (canFail) return this.log(`livepatch: ${err}`);
      throw new SelftestError(`SKIP: failed to set ${sysctl.key} = ${value}`);
    }
    this.log(`livepatch: ${sysctl.key} = ${result}`);
  }

  startTest(): void {
    this.mark = this.k.log.cursor();
  }

  /**
   * modprobe of a module found on the lab's module path, or insmod of a module's path
   * (anything with a '/'), with `param=value` arguments; returns the module's name, and throws
   * if the load fails.
   */
  loadMod(name: string, params: Record<string, string> = {}): string {
    const path = name.includes('/');
    const args = Object.entries(params).map(([p, v]) => `${p}=${v}`);
    this.logCmd([path ? 'insmod' : 'modprobe', name, ...args].join(' '));
    const file = path ? name : findModule(name, this.modulePath);
    const mod = this.modules.load(file, params).name;
    this.loadedFrom.set(mod, file);
    return mod;
  }

  /**
   * load_failing_mod: a load that must fail. modprobe's complaint goes into the log as the
   * selftests capture it; returns the error.
   */
  loadFailingMod(name: string, params: Record<string, string> = {}): Error {
    try {
      this.loadMod(name, params);
    } catch (e) {
      const first = e instanceof AggregateError ? e.errors[0] : e;
      const code = first instanceof ModuleError ? first.code : 0;
      this.log(`modprobe: ERROR: could not insert '${name}': ${strerror(code)}`);
      return first as Error;
    }
    throw new SelftestError(`${name} loaded although it should have failed`);
  }

  /** load_lp: load a patch module and wait for its transition to finish. */
  loadLp(name: string, params: Record<string, string> = {}): void {
    this.waitForTransition(this.loadMod(name, params));
  }

  /** load_lp_nowait */
  loadLpNowait(name: string, params: Record<string, string> = {}): void {
    this.loadMod(name, params);
  }

  /** echo value > /sys/module/<name>/parameters/<param> */
  setParam(name: string, param: string, value: string): void {
    this.logCmd(`echo ${value} > /sys/module/${name}/parameters/${param}`);
    this.modules.setParam(name, param, value);
  }

  disableLp(name: string): void {
    this.logCmd(`echo 0 > /sys/kernel/livepatch/${name}/enabled`);
    this.lp.sysfsWrite(`/sys/kernel/livepatch/${name}/enabled`, '0');
    this.waitForTransition(name);
  }

  unloadMod(name: string): void {
    this.logCmd(`rmmod ${name}`);
    this.modules.unload(name);
  }

  /** unload_lp: the patch must be disabled and gone from sysfs first. */
  unloadLp(name: string): void {
    this.unloadMod(name);
  }

  /** echo 0 > /sys/devices/system/cpu/cpuN/online */
  cpuDown(cpu: number): void {
    this.logCmd(`echo 0 > /sys/devices/system/cpu/cpu${cpu}/online`);
    cpuDown(this.k, cpu);
  }

  /** echo 1 > /sys/devices/system/cpu/cpuN/online */
  cpuUp(cpu: number): void {
    this.logCmd(`echo 1 > /sys/devices/system/cpu/cpu${cpu}/online`);
    cpuUp(this.k, cpu);
  }

  /** Runs the machine until the patch is out of transition (or gone), at most limitMs. */
  waitForTransition(name: string, limitMs = 60_000): void {
    const inTransition = () => this.lp.transitionPatch?.name === name;
    if (!inTransition()) return;
    const r = this.advance({ ns: limitMs * 1e6, until: () => !inTransition() });
    if (!r.untilMet) throw new SelftestError(`'${name}' still in transition after ${limitMs} emulated ms`);
  }

  /** kill PID: the signal is sent in a task (khostd), as kill(2) would; 0 or -ESRCH. */
  kill(pid: number, sig = this.k.layout.constant('SIGTERM')): number {
    const k = this.k;
    function* send(): HostTask<bigint> {
      return yield* callGuest(k.sym('kill_pid'), BigInt(pid), BigInt(sig));
    }
    return Number(BigInt.asIntN(32, this.k.host.run(`kill ${pid}`, send())));
  }

  /**
   * cat of a /proc file through its show function (of the image, else of a loaded module),
   * int show(struct seq_file *m, void *v): run in a task with a seq_file, as the file's read
   * would. With `cpu`, as `taskset -c CPU cat`: the reading task (khostd) is moved to that cpu
   * first and may run anywhere again afterwards.
   */
  cat(fn: string, opts: { cpu?: number } = {}): string {
    const k = this.k;
    const show = k.image.elf.symbolsNamed(fn).length ? k.sym(fn) : this.modules.symbol(fn);
    const cpu = opts.cpu;
    function* read(): HostTask<string> {
      if (cpu === undefined) return yield* seqRead(k, show, fn);
      const self = k.mem.u64(k.sym('hostd_task'));
      const pinned = yield* callGuest(k.sym('set_cpus_allowed_ptr'), self, BigInt(cpu));
      if (pinned) throw new SelftestError(`taskset -c ${cpu}: set_cpus_allowed_ptr() returned ${BigInt.asIntN(32, pinned)}`);
      try {
        return yield* seqRead(k, show, fn);
      } finally {
        yield* callGuest(k.sym('set_cpus_allowed_ptr'), self, BigInt.asUintN(64, -1n));
      }
    }
    return this.k.host.run(cpu === undefined ? `cat ${fn}` : `taskset -c ${cpu} cat ${fn}`, read());
  }

  /**
   * cat of a sysfs file: /sys/kernel/livepatch/... (the livepatch core's), a module's
   * parameter /sys/module/M/parameters/P, or a file a module's kobject holds under
   * /sys/kernel (read through its show function, in a task).
   */
  sysfsRead(path: string): string {
    if (path.startsWith('/sys/kernel/livepatch/')) return this.lp.sysfsRead(path);
    const param = /^\/sys\/module\/([^/]+)\/parameters\/([^/]+)$/.exec(path);
    if (param) return this.modules.param(param[1], param[2]);
    return this.k.host.run(`cat ${path}`, kobjectShow(this.k, path));
  }

  /** grep 'needle' /proc/<file> > /dev/kmsg: the matching lines of a cat() go into the log. */
  grepToKmsg(fn: string, needle: string): void {
    for (const line of this.cat(fn).split('\n')) if (line.includes(needle)) this.log(line);
  }

  // --- the scripts' checks: each fails the test (die) with what it expected and found ---------

  /** A condition the script would test with `[[ ... ]] || die`. */
  check(ok: boolean, what: string): void {
    if (!ok) throw new SelftestError(`check failed: ${what}`);
  }

  /** `[[ "$(cat /proc/F)" == TEXT ]]` */
  checkCat(fn: string, expected: string): void {
    const got = this.cat(fn);
    this.check(got === expected, `cat ${fn}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
  }

  /** The memory the host manages (modules, livepatch structures), for checkHostMemory(). */
  hostMemory(): Buffer {
    const { start, end } = this.k.hostMem;
    return Buffer.from(this.k.mem.bytes(start, Number(end - start)));
  }

  /** A failed operation must leave host-managed memory byte for byte as it was. */
  checkHostMemory(before: Buffer, what: string): void {
    this.check(before.equals(this.hostMemory()), `host memory as before ${what}`);
  }

  /** check_sysfs_value PATCH ATTR VALUE */
  checkSysfsValue(patch: string, attr: string, value: string): void {
    const got = this.lp.sysfsRead(`/sys/kernel/livepatch/${patch}/${attr}`);
    this.check(got === value, `/sys/kernel/livepatch/${patch}/${attr}: expected ${value}, got ${got}`);
  }

  /** check_sysfs_rights PATCH ATTR MODE */
  checkSysfsRights(patch: string, attr: string, mode: string): void {
    const path = `/sys/kernel/livepatch/${patch}${attr ? `/${attr}` : ''}`;
    const got = sysfsMode(this.lp, path);
    this.check(got === mode, `${path}: expected mode ${mode}, got ${got}`);
  }

  /**
   * The kernel log since startTest(), without timestamps. A LogOverrunError if the log has
   * dropped some of it (boot with a larger logCapacity), never a silently shorter log.
   */
  logSinceStart(): string[] {
    return this.k.log
      .since(this.mark)
      .filter((e) => e.type === 'printk')
      .map((e) => e.text);
  }

  /**
   * check_result: the lines since startTest() that the selftests compare -- commands, livepatch
   * lines and the test modules' own lines -- must equal `expected`.
   */
  checkResult(expected: readonly string[], filter: (line: string) => boolean = checkResultFilter): void {
    const got = this.logSinceStart().filter(filter);
    if (got.join('\n') !== expected.join('\n'))
      throw new SelftestError(`kernel log differs:\n--- expected\n${expected.join('\n')}\n--- got\n${got.join('\n')}`);
  }

  close(): void {
    this.k.close();
  }
}

/**
 * What check_result compares: every line that mentions 'livepatch:' or 'test_klp' anywhere (so
 * a WARNING's "Modules linked in: test_klp_..." line too), except the taint notices.
 */
export function checkResultFilter(line: string): boolean {
  return (line.includes('livepatch:') || line.includes('test_klp')) && !/(tainting|taints) kernel/.test(line);
}
