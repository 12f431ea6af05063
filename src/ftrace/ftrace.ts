// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ftrace's registration API, host side: the kernel's register_ftrace_function(),
 * unregister_ftrace_function() and ftrace_set_filter_ip() for ops that each trace one fentry
 * site. A registered ops lives in guest memory the host manages (struct ftrace_ops, its layout
 * from asm-offsets), linked at the head of the guest's ftrace_ops_list. A site traced by one ops
 * calls that ops' own dynamic trampoline (trampoline.ts), which runs just its handler through
 * ftrace_ops_assist_func; a site traced by several calls ftrace_regs_caller, whose
 * ftrace_ops_list_func (kernel/ftrace.c) walks the list. The site goes from NOP to a call when
 * its first ops arrives, between the two trampolines as the count crosses one, and back to the
 * NOP when the last ops leaves.
 *
 * Everything here runs while every vCPU is stopped, so linking, unlinking and the code writes
 * are atomic for the guest. What is not atomic is a vCPU stopped in the middle of a list walk,
 * still holding an ops it read before the host unlinked it: an unlinked ops is freed only after
 * a grace period, once every walk that was in progress when it was unlinked has finished (the
 * guest counts walks per cpu, see include/lab/ftrace.h). ftraceAfterGracePeriod() offers the same
 * wait to callers with their own guest data behind op->private (livepatch's klp_ops).
 *
 * The kernel.ftrace_enabled sysctl (sysctl.ts) turns every site off and on again: while it is
 * 0 ops are still registered, unregistered and given trampolines, but no site is poked -- each
 * holds its NOP -- and a PERMANENT ops (livepatch's) is refused.
 *
 * Checks come first and changes after: an operation that fails leaves guest memory as it was.
 */
import { type Kernel, symbolize, HostMemoryError } from '../kernel/index.ts';
import type { OrcUnwinder } from '../orc/index.ts';
import { FtraceError } from './errors.ts';
import { ftraceCheckCall, ftraceCheckNop, ftraceMakeCall, ftraceMakeNop, ftraceModifyCall } from './poke.ts';
import { Trampolines, type Trampoline } from './trampoline.ts';
import { describeSite, FtraceSites, imageFtraceSites, VMLINUX, type FtraceSite } from './sites.ts';

export interface FtraceOpsOptions {
  /** The guest handler, a notrace function: its symbol or its address. */
  func: bigint | string;
  /** The handler may change regs->ip: at most one such ops per site (FTRACE_OPS_FL_IPMODIFY). */
  ipmodify?: boolean;
  /**
   * The ops must not be turned off behind its owner's back (FTRACE_OPS_FL_PERMANENT): it cannot
   * be registered while kernel.ftrace_enabled is 0, and the sysctl cannot go to 0 while it is.
   */
  permanent?: boolean;
  /** Stored in the guest ops' private field for the handler (livepatch: its struct klp_ops). */
  privateData?: bigint;
  /**
   * Where the guest struct ftrace_ops lives, if the caller provides it (e.g. embedded in its
   * own guest structure; the caller frees it, after ftraceAfterGracePeriod). By default ftrace
   * allocates it in host-managed guest memory and frees it itself.
   */
  at?: bigint;
}

/** A host-side ftrace_ops: what to call, for which site, and where it lives while registered. */
export class FtraceOps {
  readonly func: bigint | string;
  readonly ipmodify: boolean;
  readonly permanent: boolean;
  readonly privateData: bigint;
  readonly at?: bigint;
  /** The filter: the one site this ops traces (set with ftraceSetFilterIp). */
  ip?: bigint;
  /** Address of the guest struct ftrace_ops while registered. */
  guest?: bigint;

  constructor(opts: FtraceOpsOptions) {
    this.func = opts.func;
    this.ipmodify = opts.ipmodify ?? false;
    this.permanent = opts.permanent ?? false;
    this.privateData = opts.privateData ?? 0n;
    this.at = opts.at;
  }

  get registered(): boolean {
    return this.guest !== undefined;
  }
}

/**
 * One kernel's ftrace: the sites it knows (the image's, and each module's while loaded), the
 * registered ops, the grace periods and the dynamic trampolines. The lab's assembly
 * (src/lab/lab.ts) builds the one Ftrace of a booted kernel and hands it to whoever traces.
 */
export class Ftrace {
  readonly sites: FtraceSites;
  readonly trampoline: bigint;
  readonly listHead: bigint;
  /** Registered ops, newest first, as on the guest list. */
  readonly ops: FtraceOps[] = [];
  /** Registered ops per enabled site. */
  readonly users = new Map<bigint, number>();
  readonly grace: GracePeriods;
  readonly trampolines: Trampolines;
  /** The dynamic trampoline of each ops that is alone on its site. */
  private readonly tramp = new Map<FtraceOps, Trampoline>();
  private readonly off: { func: number; next: number; flags: number; ip: number; private: number; size: number };
  private readonly flEnabled: bigint;
  private readonly flIpmodify: bigint;
  private readonly flPermanent: bigint;
  /** The guest's int ftrace_enabled: the sysctl's value. */
  readonly enabledVar: bigint;
  /**
   * Whether the sites of registered ops call out (the kernel's last_ftrace_enabled): the state
   * the sysctl last put the sites in, which only the sysctl's handler changes.
   */
  callsEnabled = true;

  constructor(
    readonly kernel: Kernel,
    unwinder: OrcUnwinder,
  ) {
    const L = kernel.layout;
    this.trampoline = kernel.sym('ftrace_regs_caller');
    this.listHead = kernel.sym('ftrace_ops_list');
    this.off = {
      func: L.offset('ftrace_ops', 'func'),
      next: L.offset('ftrace_ops', 'next'),
      flags: L.offset('ftrace_ops', 'flags'),
      ip: L.offset('ftrace_ops', 'ip'),
      private: L.offset('ftrace_ops', 'private'),
      size: L.sizeof('ftrace_ops'),
    };
    this.flEnabled = BigInt(L.constant('FTRACE_OPS_FL_ENABLED'));
    this.flIpmodify = BigInt(L.constant('FTRACE_OPS_FL_IPMODIFY'));
    this.flPermanent = BigInt(L.constant('FTRACE_OPS_FL_PERMANENT'));
    this.enabledVar = kernel.sym('ftrace_enabled');
    this.sites = new FtraceSites(imageFtraceSites(kernel.image));
    this.grace = new GracePeriods(kernel);
    this.trampolines = new Trampolines(kernel, unwinder);
  }

  /**
   * What the site at ip calls while calls are enabled: its only ops' trampoline, or the static
   * one (with kernel.ftrace_enabled 0 it holds its NOP, see ftraceSiteTarget()).
   */
  target(ip: bigint): bigint | undefined {
    const n = this.users.get(ip) ?? 0;
    if (!n) return undefined;
    if (n > 1) return this.trampoline;
    const only = this.ops.find((o) => o.ip === ip)!;
    // an ops left alone when no trampoline could be made for it stays on the list walk
    return this.tramp.get(only)?.address ?? this.trampoline;
  }

  private retireTrampoline(ops: FtraceOps): void {
    const t = this.tramp.get(ops);
    if (!t) return;
    this.tramp.delete(ops);
    this.trampolines.retire(t);
  }

  handlerAddress(ops: FtraceOps): bigint {
    let addr: bigint;
    if (typeof ops.func === 'string') {
      try {
        addr = this.kernel.sym(ops.func);
      } catch (e) {
        throw new FtraceError('EINVAL', `handler '${ops.func}': ${(e as Error).message}`);
      }
    } else addr = ops.func;
    if (!this.kernel.mem.contains(addr)) throw new FtraceError('EINVAL', `handler 0x${addr.toString(16)} is not in guest memory`);
    const own = this.sites.ofFunction(addr);
    if (own)
      throw new FtraceError('EINVAL', `handler ${own.func} has an fentry site: ftrace handlers must be notrace (no_instrument_function)`);
    return addr;
  }

  register(ops: FtraceOps): void {
    if (ops.registered) throw new FtraceError('EBUSY', `ops for ${this.describe(ops.ip)} is already registered`);
    if (ops.ip === undefined) throw new FtraceError('EINVAL', 'ops has no filter ip: tracing every function is not supported');
    if (ops.permanent && this.kernel.mem.s32(this.enabledVar) === 0)
      throw new FtraceError('EBUSY', `kernel.ftrace_enabled is 0: the permanent ops for ${this.describe(ops.ip)} cannot be registered`);
    const cpus = this.kernel.machine.cpus.filter((c) => c.ring0 === null).map((c) => c.index);
    if (cpus.length) throw new FtraceError('EBUSY', `cpu ${cpus.join(', ')} not booted yet: handlers read per-cpu data`);
    const ip = ops.ip;
    const site = this.site(ip);
    const handler = this.handlerAddress(ops);
    if (ops.ipmodify && this.ops.some((o) => o.ipmodify && o.ip === ip))
      throw new FtraceError('EBUSY', `${describeSite(site)} already has an ops that modifies the ip`);
    if (ops.at !== undefined && (!this.kernel.mem.contains(ops.at, this.off.size) || ops.at % 8n !== 0n))
      throw new FtraceError('EINVAL', `ops at 0x${ops.at.toString(16)}: not ${this.off.size} aligned bytes of guest memory`);
    if (ops.at !== undefined && this.ops.some((o) => o.guest === ops.at))
      throw new FtraceError('EBUSY', `ops at 0x${ops.at.toString(16)} is already on ftrace_ops_list`);
    const first = !this.users.get(ip);
    const calls = this.callsEnabled;
    if (first || !calls) ftraceCheckNop(this, ip);
    const alone = this.users.get(ip) === 1 ? this.ops.find((o) => o.ip === ip)! : undefined;
    const aloneTramp = alone && this.tramp.get(alone);
    if (alone && calls) ftraceCheckCall(this, ip, this.target(ip)!);
    if (aloneTramp) this.trampolines.checkLive(aloneTramp);

    // what can fail comes first -- the memory, the first ops' trampoline -- so a failure
    // leaves the guest as it was (the trampoline is not reachable before the site is poked)
    const m = this.kernel.mem;
    const g = ops.at ?? this.kernel.hostMem.alloc(this.off.size, 16, `ftrace_ops for ${site.func}`);
    let own: Trampoline | undefined;
    if (first) {
      try {
        own = this.trampolines.create(g, ops, this.describe(ip));
      } catch (e) {
        if (ops.at === undefined) this.kernel.hostMem.release(g);
        throw e;
      }
    }
    if (ops.at !== undefined) m.bytes(g, this.off.size).fill(0);
    m.setU64(g + BigInt(this.off.func), handler);
    m.setU64(g + BigInt(this.off.flags), this.flEnabled | (ops.ipmodify ? this.flIpmodify : 0n) | (ops.permanent ? this.flPermanent : 0n));
    m.setU64(g + BigInt(this.off.ip), ip);
    m.setU64(g + BigInt(this.off.private), ops.privateData);
    m.setU64(g + BigInt(this.off.next), m.u64(this.listHead));
    m.setU64(this.listHead, g);
    ops.guest = g;
    this.ops.unshift(ops);
    this.users.set(ip, (this.users.get(ip) ?? 0) + 1);
    if (own) {
      this.tramp.set(ops, own);
      if (calls) ftraceMakeCall(this, ip, own.address);
    } else if (aloneTramp) {
      // a second ops: the site goes to the list walk, the first one's trampoline is retired
      if (calls) ftraceModifyCall(this, ip, aloneTramp.address, this.trampoline);
      this.retireTrampoline(alone!);
    }
  }

  unregister(ops: FtraceOps): void {
    const g = ops.guest;
    if (g === undefined || !this.ops.includes(ops)) throw new FtraceError('EINVAL', `ops for ${this.describe(ops.ip)} is not registered`);
    const ip = ops.ip!;
    const last = this.users.get(ip) === 1;
    const calls = this.target(ip)!;
    const on = this.callsEnabled;
    if (on) ftraceCheckCall(this, ip, calls);
    else ftraceCheckNop(this, ip);
    const own = this.tramp.get(ops);
    if (own) this.trampolines.checkLive(own); // before any change: retiring it rewrites its call
    const m = this.kernel.mem;
    // find the link that points at g: the list head or the next field of its predecessor
    let link = this.listHead;
    for (let n = 0; m.u64(link) !== g; n++) {
      if (m.u64(link) === 0n || n > this.ops.length)
        throw new FtraceError('EFAULT', `ftrace_ops_list does not hold the ops at 0x${g.toString(16)}: guest list corrupted`);
      link = m.u64(link) + BigInt(this.off.next);
    }

    m.setU64(link, m.u64(g + BigInt(this.off.next)));
    this.ops.splice(this.ops.indexOf(ops), 1);
    if (last) {
      this.users.delete(ip);
      if (on) ftraceMakeNop(this, ip, calls);
      this.retireTrampoline(ops);
    } else {
      this.users.set(ip, this.users.get(ip)! - 1);
      if (this.users.get(ip) === 1) {
        // one ops left: the site gets that ops' own trampoline, or stays on the list walk if
        // none can be made (host memory full): unregistering itself must not fail
        const left = this.ops.find((o) => o.ip === ip)!;
        let t: Trampoline | undefined;
        try {
          t = this.trampolines.create(left.guest!, left, this.describe(ip));
        } catch (e) {
          if (!(e instanceof HostMemoryError)) throw e;
        }
        if (t) {
          this.tramp.set(left, t);
          if (on) ftraceModifyCall(this, ip, this.trampoline, t.address);
        }
      }
    }
    ops.guest = undefined;
    // a vCPU stopped inside a list walk may still hold g: free it once those walks are over
    // (an ops at a caller's address is the caller's to free, after the same wait)
    if (ops.at === undefined) this.afterGracePeriod(() => this.kernel.hostMem.release(g), ops);
    else m.setU64(g + BigInt(this.off.flags), m.u64(g + BigInt(this.off.flags)) & ~this.flEnabled);
  }

  /** After a walk grace period, and after every trampoline retired by then (that served ops) is freed. */
  afterGracePeriod(fn: () => void, ops?: FtraceOps): void {
    this.grace.defer(() => this.trampolines.afterRetired(fn, ops));
  }

  /**
   * Every site with registered ops calls out again (on) or goes back to its NOP (off): the
   * sysctl's FTRACE_UPDATE_CALLS and FTRACE_DISABLE_CALLS. Every site is checked before the
   * first is written, so a site holding something unexpected leaves all of them as they were.
   */
  setCalls(on: boolean): void {
    if (on === this.callsEnabled) return;
    const sites = [...this.users.keys()];
    for (const ip of sites) {
      if (on) ftraceCheckNop(this, ip);
      else ftraceCheckCall(this, ip, this.target(ip)!);
    }
    for (const ip of sites) {
      if (on) ftraceMakeCall(this, ip, this.target(ip)!);
      else ftraceMakeNop(this, ip, this.target(ip)!);
    }
    this.callsEnabled = on;
  }

  setFilterIp(ops: FtraceOps, ip: bigint, remove: boolean, reset: boolean): void {
    if (ops.registered)
      throw new FtraceError('EBUSY', `ops for ${this.describe(ops.ip)} is registered: unregister it before changing its filter`);
    const loc = this.sites.location(ip);
    if (loc === undefined)
      throw new FtraceError('EINVAL', `${symbolize(this.kernel.image, ip)} (0x${ip.toString(16)}) is not an ftrace location`);
    if (remove) {
      if (ops.ip !== loc) throw new FtraceError('ENOENT', `ops does not filter on ${this.describe(loc)}`);
      ops.ip = undefined;
      return;
    }
    if (ops.ip !== undefined && ops.ip !== loc && !reset)
      throw new FtraceError('EINVAL', `ops already filters on ${this.describe(ops.ip)}: an ops here traces one site (reset to replace it)`);
    ops.ip = loc;
  }

  site(ip: bigint): FtraceSite {
    const site = this.sites.at(ip);
    if (!site) throw new FtraceError('EINVAL', `${this.describe(ip)} is not an ftrace site`);
    return site;
  }

  describe(ip: bigint | undefined): string {
    if (ip === undefined) return '(no filter)';
    const site = this.sites.at(ip);
    return site ? describeSite(site) : `${symbolize(this.kernel.image, ip)} (0x${ip.toString(16)})`;
  }
}

/**
 * Grace periods over the guest's per-cpu list walks. A period starts by setting every cpu's
 * low-water mark to its current walk depth; the guest lowers the mark as walks end; the period
 * is over when every mark is 0, i.e. every walk in progress at its start has ended. Callbacks
 * queued while a period runs wait for the next one: walks started after its start are not
 * covered by it. Checked after every round of the machine and whenever a callback is queued.
 */
class GracePeriods {
  private current: (() => void)[] | null = null;
  private next: (() => void)[] = [];
  private readonly depth: bigint;
  private readonly lowmark: bigint;

  constructor(private readonly kernel: Kernel) {
    this.depth = kernel.sym('ftrace_cpu_depth');
    this.lowmark = kernel.sym('ftrace_cpu_lowmark');
    kernel.machine.afterRound.push(() => {
      if (this.current || this.next.length) this.poll();
    });
  }

  get pending(): number {
    return (this.current?.length ?? 0) + this.next.length;
  }

  defer(fn: () => void): void {
    this.next.push(fn);
    this.poll();
  }

  poll(): void {
    for (;;) {
      if (this.current) {
        if (!this.quiet()) return;
        const done = this.current;
        this.current = null;
        this.kernel.machine.noteHostEffect();
        for (const fn of done) fn();
      }
      if (!this.next.length) return;
      this.current = this.next;
      this.next = [];
      this.kernel.machine.noteHostEffect();
      this.start();
    }
  }

  private start(): void {
    const m = this.kernel.mem;
    for (let cpu = 0; cpu < this.kernel.nrCpus; cpu++) m.setU64(this.lowmark + BigInt(8 * cpu), m.u64(this.depth + BigInt(8 * cpu)));
  }

  private quiet(): boolean {
    const m = this.kernel.mem;
    for (let cpu = 0; cpu < this.kernel.nrCpus; cpu++) if (m.u64(this.lowmark + BigInt(8 * cpu)) !== 0n) return false;
    return true;
  }
}

/** ftrace_location(): see FtraceSites.location(). */
export function ftraceLocation(ftrace: Ftrace, addr: bigint): bigint | undefined {
  return ftrace.sites.location(addr);
}

/**
 * Sets (or with remove, clears) the one site an ops traces: ip is a site, or the address of a
 * function with one (ftrace_location). Not a location: -EINVAL; removing an ip the ops does not
 * filter on: -ENOENT; a registered ops: -EBUSY.
 */
export function ftraceSetFilterIp(ftrace: Ftrace, ops: FtraceOps, ip: bigint, remove = false, reset = false): void {
  ftrace.setFilterIp(ops, ip, remove, reset);
}

/**
 * Registers ops: allocates and fills its guest struct, links it at the head of
 * ftrace_ops_list, and turns its site into a call to ftrace_regs_caller if it is the site's
 * first ops. Already registered, or a second ip-modifying ops on a site: -EBUSY; no filter, or a
 * handler that is not notrace: -EINVAL; a site not holding the NOP: FtracePokeError.
 */
export function registerFtraceFunction(ftrace: Ftrace, ops: FtraceOps): void {
  ftrace.register(ops);
}

/**
 * Unregisters ops: unlinks it and, if it was its site's last ops, puts the NOP back. Its guest
 * struct is freed after a grace period (one the caller provided with `at` is left to it, with
 * FTRACE_OPS_FL_ENABLED cleared). Not registered: -EINVAL; the site not holding the call:
 * FtracePokeError.
 */
export function unregisterFtraceFunction(ftrace: Ftrace, ops: FtraceOps): void {
  ftrace.unregister(ops);
}

/**
 * Runs fn once every list walk in progress now has finished and every dynamic trampoline retired
 * by then (only those that served `ops`, if given) is freed: from then on no handler can still
 * be running, or about to run, for an ops unregistered before this call. Runs fn at once when
 * nothing is in progress; otherwise after a later round of the machine.
 */
export function ftraceAfterGracePeriod(ftrace: Ftrace, fn: () => void, ops?: FtraceOps): void {
  ftrace.afterGracePeriod(fn, ops);
}

/** Callbacks (including ops to free) still waiting for a grace period. */
export function ftracePendingCallbacks(ftrace: Ftrace): number {
  return ftrace.grace.pending + ftrace.trampolines.waitingCallbacks;
}

/** The registered ops, newest first. */
export function registeredFtraceOps(ftrace: Ftrace): readonly FtraceOps[] {
  return ftrace.ops;
}

/** What the enabled site at ip calls: its one ops' dynamic trampoline, or ftrace_regs_caller. */
export function ftraceSiteTarget(ftrace: Ftrace, ip: bigint): bigint | undefined {
  return ftrace.callsEnabled ? ftrace.target(ip) : undefined;
}

/** The ftrace (dynamic) trampolines: live ones, and retired ones waiting for their grace period. */
export function ftraceTrampolines(ftrace: Ftrace): Trampolines {
  return ftrace.trampolines;
}

/** Whether the site at ip currently calls the trampoline (has registered ops). */
export function ftraceSiteEnabled(ftrace: Ftrace, ip: bigint): boolean {
  return ftrace.callsEnabled && (ftrace.users.get(ip) ?? 0) > 0;
}

/** The static trampoline (ftrace_regs_caller), which sites traced by several ops call. */
export function ftraceTrampoline(ftrace: Ftrace): bigint {
  return ftrace.trampoline;
}

/**
 * A module's sites become known (the kernel's ftrace_module_init): the loader calls this once
 * the module's code is in place, with moduleFtraceSites() or mcountTableSites() of it.
 */
export function ftraceModuleInit(ftrace: Ftrace, owner: string, sites: readonly FtraceSite[]): void {
  ftrace.sites.add(owner, sites);
}

/**
 * A module's sites are forgotten (ftrace_release_mod), before its memory is freed. Refused
 * with -EBUSY while a registered ops traces one of them.
 */
export function ftraceReleaseMod(ftrace: Ftrace, owner: string): void {
  if (owner === VMLINUX) throw new FtraceError('EINVAL', "the image's sites cannot be released");
  const sites = new Set(ftrace.sites.ownerSites(owner).map((x) => x.ip));
  const busy = ftrace.ops.find((o) => o.ip !== undefined && sites.has(o.ip));
  if (busy) throw new FtraceError('EBUSY', `module '${owner}': ${ftrace.describe(busy.ip)} is still traced`);
  ftrace.sites.remove(owner);
}
