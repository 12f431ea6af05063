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
import { Livepatch, type ModuleInfo } from '../livepatch/core.ts';
import { Modules, type LoadedModule } from '../kernel/modules.ts';
import { ftraceModuleInit, ftraceReleaseMod, moduleFtraceSites } from '../ftrace/index.ts';
import { ElfFile, type ElfSymbol } from '../elf/index.ts';
import { SHN_UNDEF, STT_OBJECT } from '../elf/constants.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export class SelftestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelftestError';
  }
}

/**
 * Module parameters, `name=v1,v2,...` on the modprobe line: int arrays. Our modules have no
 * parameter machinery; the values are written into the module's variable of that name after
 * the module is placed and before its init runs, where the kernel parses a module's
 * parameters (after the COMING notifiers); entries past the values given keep their initial
 * values.
 */
export type ModuleParams = Readonly<Record<string, readonly number[]>>;

/** After every other COMING notifier, as parse_args() runs after prepare_coming_module(). */
const PARAMS_PRIORITY = -1000;

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

  /** A line in the kernel log, as the selftests' log() (echo > /dev/kmsg). */
  log(text: string): void {
    this.k.log.hostPrintk(6, text, this.k.machine.clockNs);
  }

  /** A "% cmd" line in the kernel log. */
  logCmd(cmd: string): void {
    this.log(`% ${cmd}`);
  }

  startTest(): void {
    this.mark = this.k.log.messages().length;
  }

  /** insmod/modprobe of fixtures/<name>.o; throws if the load fails (like a failing modprobe). */
  loadMod(name: string, params: ModuleParams = {}): void {
    const args = Object.entries(params).map(([p, v]) => ` ${p}=${v.join(',')}`);
    this.logCmd(`modprobe ${name}${args.join('')}`);
    if (!args.length) {
      this.modules.load(`${FIXTURES}${name}.o`);
      return;
    }
    // checked against the object before the load: a bad parameter leaves guest memory untouched
    const elf = ElfFile.read(`${FIXTURES}${name}.o`);
    checkParams(elf, name, params);
    const write = (m: LoadedModule) => {
      if (m.name !== name) return;
      for (const [param, values] of Object.entries(params)) {
        const at = m.findSymbol(param);
        values.forEach((v, i) => this.k.mem.setU32(at + BigInt(4 * i), v >>> 0));
      }
    };
    const off = this.modules.onComing(write, PARAMS_PRIORITY);
    try {
      this.modules.load(elf);
    } finally {
      off();
    }
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
  loadLp(name: string, params: ModuleParams = {}): void {
    this.loadMod(name, params);
    this.waitForTransition(name);
  }

  /** load_lp_nowait */
  loadLpNowait(name: string, params: ModuleParams = {}): void {
    this.loadMod(name, params);
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

  /** Runs the machine until the patch is out of transition (or gone), at most limitMs. */
  waitForTransition(name: string, limitMs = 60_000): void {
    const inTransition = () => this.lp.transitionPatch?.name === name;
    if (!inTransition()) return;
    const r = this.k.run({ ns: limitMs * 1e6, until: () => !inTransition() });
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

  /** cat of a /proc-like guest function: run in a task, as the file's read would. */
  cat(fn: string): string {
    const buf = this.k.hostMem.alloc(256, 16, `buffer for ${fn}`);
    const k = this.k;
    function* read(): HostTask<bigint> {
      return yield* callGuest(k.sym(fn), buf, 256n);
    }
    try {
      this.k.host.run(`cat ${fn}`, read());
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

/** Each parameter must name an int array of the module, big enough for its values. */
function checkParams(elf: ElfFile, name: string, params: ModuleParams): void {
  for (const [param, values] of Object.entries(params)) {
    // the lookup the write makes after placement, so it cannot fail there
    let sym: ElfSymbol;
    try {
      sym = elf.findSymbol(param);
    } catch (e) {
      throw new SelftestError(`${name}: unknown parameter '${param}': ${(e as Error).message}`);
    }
    if (sym.type !== STT_OBJECT || sym.shndx === SHN_UNDEF)
      throw new SelftestError(`${name}: unknown parameter '${param}': not a variable of the module`);
    if (values.length * 4 > sym.size)
      throw new SelftestError(`${name}: parameter '${param}' holds ${Math.floor(sym.size / 4)} ints, got ${values.length}`);
    const bad = values.find((v) => !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff);
    if (bad !== undefined) throw new SelftestError(`${name}: parameter '${param}': ${bad} is not an int`);
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
