// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's livepatch selftests' toolkit (tools/testing/selftests/livepatch/functions.sh),
 * for lab scenarios: load and unload modules and patches, write sysfs, wait for transitions,
 * and compare the kernel log since the test began with the expected lines. Commands are logged
 * into the kernel log as "% cmd" lines, as the selftests do, so the expected output reads the
 * same.
 */
import { fileURLToPath } from 'node:url';
import { bootKernel, type BootOptions } from '../kernel/boot.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { callGuest, type HostTask } from '../kernel/hostcall.ts';
import { cpuDown, cpuUp } from '../kernel/hotplug.ts';
import { Livepatch, type ModuleInfo } from '../livepatch/core.ts';
import { Modules } from '../kernel/modules.ts';
import { ftraceModuleInit, ftraceReleaseMod, moduleFtraceSites } from '../ftrace/index.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export class SelftestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelftestError';
  }
}

export class Lab {
  /** Index of the first log line of the current test (start_test). */
  private mark = 0;

  private constructor(
    readonly k: Kernel,
    readonly modules: Modules,
    readonly lp: Livepatch,
  ) {}

  static async boot(opts: BootOptions = {}): Promise<Lab> {
    const k = await bootKernel({ cpus: 4, workload: 'idle', ...opts });
    k.runFor(100);
    const modules = new Modules(k);
    const lp = new Livepatch(k, moduleInfo(k, modules));
    // the kernel's order: ftrace knows a module's sites before livepatch patches it, and
    // livepatch reverts it before ftrace forgets them
    modules.onComing((m) => ftraceModuleInit(k, m.name, moduleFtraceSites(m.name, m.elf, (s) => m.placement(s))), 100);
    modules.onComing((m) => lp.moduleComing(m.name));
    modules.onGoing((m) => lp.moduleGoing(m.name));
    modules.onGoing((m) => ftraceReleaseMod(k, m.name), -100);
    return new Lab(k, modules, lp);
  }

  /** A "% cmd" line in the kernel log, as the selftests' log(). */
  logCmd(cmd: string): void {
    this.k.log.hostPrintk(6, `% ${cmd}`, this.k.machine.clockNs);
  }

  startTest(): void {
    this.mark = this.k.log.messages().length;
  }

  /** insmod/modprobe of fixtures/<name>.o; throws if the load fails (like a failing modprobe). */
  loadMod(name: string): void {
    this.logCmd(`modprobe ${name}`);
    this.modules.load(`${FIXTURES}${name}.o`);
  }

  /** A load that is expected to fail: returns the error's message. */
  loadFailingMod(name: string): string {
    this.logCmd(`modprobe ${name}`);
    try {
      this.modules.load(`${FIXTURES}${name}.o`);
    } catch (e) {
      return (e as Error).message;
    }
    throw new SelftestError(`${name} loaded although it should have failed`);
  }

  /** load_lp: load a patch module and wait for its transition to finish. */
  loadLp(name: string): void {
    this.loadMod(name);
    this.waitForTransition(name);
  }

  /** load_lp_nowait */
  loadLpNowait(name: string): void {
    this.loadMod(name);
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
    const r = this.k.run({ ns: limitMs * 1e6, until: () => !inTransition() });
    if (!r.untilMet) throw new SelftestError(`'${name}' still in transition after ${limitMs} emulated ms`);
  }

  /**
   * cat of a /proc-like guest function: run in a task, as the file's read would. With `cpu`,
   * as `taskset -c CPU cat`: the reading task (khostd) is moved to that cpu first and may run
   * anywhere again afterwards.
   */
  cat(fn: string, opts: { cpu?: number } = {}): string {
    const buf = this.k.hostMem.alloc(256, 16, `buffer for ${fn}`);
    const k = this.k;
    const cpu = opts.cpu;
    function* read(): HostTask<bigint> {
      if (cpu === undefined) return yield* callGuest(k.sym(fn), buf, 256n);
      const self = k.mem.u64(k.sym('hostd_task'));
      const pinned = yield* callGuest(k.sym('set_cpus_allowed_ptr'), self, BigInt(cpu));
      if (pinned) throw new SelftestError(`taskset -c ${cpu}: set_cpus_allowed_ptr() returned ${BigInt.asIntN(32, pinned)}`);
      try {
        return yield* callGuest(k.sym(fn), buf, 256n);
      } finally {
        yield* callGuest(k.sym('set_cpus_allowed_ptr'), self, BigInt.asUintN(64, -1n));
      }
    }
    try {
      this.k.host.run(cpu === undefined ? `cat ${fn}` : `taskset -c ${cpu} cat ${fn}`, read());
      return this.k.mem.cstring(buf, 256);
    } finally {
      this.k.hostMem.release(buf);
    }
  }

  /** The kernel log since startTest(), without timestamps. */
  logSinceStart(): string[] {
    return this.k.log.events
      .filter((e) => e.type === 'printk')
      .slice(this.mark)
      .map((e) => e.text);
  }

  /**
   * check_result: the lines since startTest() that the selftests compare -- commands, livepatch
   * lines and the test modules' own lines -- must equal `expected`.
   */
  checkResult(expected: string[], filter: (line: string) => boolean = defaultFilter): void {
    const got = this.logSinceStart().filter(filter);
    if (got.join('\n') !== expected.join('\n'))
      throw new SelftestError(`kernel log differs:\n--- expected\n${expected.join('\n')}\n--- got\n${got.join('\n')}`);
  }

  close(): void {
    this.k.close();
  }
}

/** What the selftests compare: commands, the core's lines (not the per-task debug ones), the test modules' lines. */
function defaultFilter(line: string): boolean {
  if (line.startsWith('livepatch: klp_try_switch_task: ')) return false;
  return line.startsWith('% ') || line.startsWith('livepatch: ') || line.startsWith('test_klp') || line.startsWith('lab_mod');
}

function moduleInfo(k: Kernel, modules: Modules): ModuleInfo {
  return {
    nameAt: (a) => modules.moduleAt(a)?.name,
    isLoaded: (n) => modules.isLoaded(n),
    findSymbol: (m, n, pos) => modules.findSymbol(m, n, pos),
    sizeAt: (a) => modules.sizeAt(a) ?? k.image.symbolAt(a)?.size,
    get: (n) => modules.get(n),
    put: (n) => modules.put(n),
  };
}
