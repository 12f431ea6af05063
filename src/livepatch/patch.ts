// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Patching functions (kernel/livepatch/patch.c): one klp_ops per patched function, holding
 * the func_stack -- every klp_func that replaces that function, newest first -- and the ftrace
 * ops that sends each call of it to klp_ftrace_handler. The first func on a function creates
 * the ops and registers the handler; the last one to leave unregisters it. The func_stack is a
 * guest list the handler walks, so every change is made in guest memory (while every vCPU is
 * stopped, which is what the kernel's RCU list operations make safe for it).
 */
import {
  type Kernel,
  HostMemoryError,
  initListHead,
  listAddRcu,
  listDelRcu,
  listForEach,
  listIsSingular,
  listNext,
} from '../kernel/index.ts';
import {
  type Ftrace,
  FtraceError,
  FtraceOps,
  ftraceAfterGracePeriod,
  ftraceLocation,
  ftraceSetFilterIp,
  registerFtraceFunction,
  unregisterFtraceFunction,
} from '../ftrace/index.ts';
import { EINVAL, ENOMEM } from '../elf/index.ts';
import { prErr, warnOn } from './log.ts';
import type { KlpFunc, KlpLayout, KlpObject, KlpPatch } from './structs.ts';

/**
 * The -errno an ftrace call that threw gives back in the kernel: ftrace's own errno (-EBUSY for
 * a second ip-modifying ops on a function), -ENOMEM when host memory ran out. Anything else is
 * a bug of the lab and goes on up.
 */
function ftraceRet(e: unknown): number {
  if (e instanceof FtraceError) return e.code;
  if (e instanceof HostMemoryError) return -ENOMEM;
  throw e;
}

/**
 * struct klp_ops, as a view: the func_stack is the guest list klp_ftrace_handler walks, and
 * the host reads that same list -- there is no host copy to keep equal to it.
 */
export class KlpOps {
  constructor(
    private readonly patcher: KlpPatcher,
    readonly address: bigint,
    readonly oldFunc: bigint,
    readonly fops: FtraceOps,
  ) {}

  /** &ops->func_stack */
  get head(): bigint {
    return this.address + this.patcher.L.ops.func_stack;
  }

  /** list_for_each_entry(func, &ops->func_stack, stack_node): newest first, as the handler reads it. */
  *funcStack(): Generator<KlpFunc> {
    const p = this.patcher;
    for (const node of listForEach(p.k, this.head, `func_stack of klp_ops 0x${this.address.toString(16)}`))
      yield p.funcAt(node - p.L.func.stack_node);
  }
}

export class KlpPatcher {
  private readonly opsByFunc = new Map<bigint, KlpOps>();
  /** Changes to any func_stack so far: whoever keeps what the stacks hold knows when to look again. */
  generation = 0;

  constructor(
    readonly k: Kernel,
    readonly L: KlpLayout,
    /** klp_patches: every func that can be on a func_stack belongs to one of them. */
    private readonly patches: readonly KlpPatch[],
    /** The kernel's ftrace, which sends each call of a patched function to the handler. */
    private readonly ftrace: Ftrace,
  ) {}

  findOps(oldFunc: bigint): KlpOps | undefined {
    return this.opsByFunc.get(oldFunc);
  }

  /**
   * The host's KlpFunc of a guest struct klp_func (container_of() of a func_stack node), found
   * through the patch list. A func on a stack is patched, and a patch leaves the list only
   * after each of its funcs has left its stack, so a miss is a bug of the lab.
   */
  funcAt(address: bigint): KlpFunc {
    for (const p of this.patches) for (const o of p.objs) for (const f of o.funcs) if (f.address === address) return f;
    throw new Error(`struct klp_func 0x${address.toString(16)} is on a func_stack but in no patch`);
  }

  /**
   * list_next_entry(func, stack_node): the func the handler would use after `func` on its
   * stack (the next older one), or undefined when func is the oldest or not on a stack.
   */
  nextOlder(func: KlpFunc): KlpFunc | undefined {
    const ops = this.findOps(func.oldFunc);
    if (!ops || !func.patched) return undefined;
    const next = listNext(this.k, func.stackNode);
    return next === ops.head ? undefined : this.funcAt(next - this.L.func.stack_node);
  }

  /**
   * klp_patch_func(): 0 or -errno. A function's first func creates its klp_ops and registers
   * the ftrace handler; if ftrace refuses, the kernel's message says which step failed, and
   * the func's list node and the klp_ops memory are as they were before.
   */
  patchFunc(func: KlpFunc): number {
    if (warnOn(this.k, !func.oldFunc, `${func.oldName} has no address`)) return -EINVAL;
    if (warnOn(this.k, func.patched, `${func.oldName} is already patched`)) return -EINVAL;
    const ops = this.findOps(func.oldFunc);
    if (!ops) {
      const site = ftraceLocation(this.ftrace, func.oldFunc);
      if (site === undefined) {
        prErr(this.k, `failed to find location for function '${func.oldName}'`);
        return -EINVAL;
      }
      let addr: bigint;
      try {
        addr = this.k.hostMem.alloc(this.L.opsSize, 16, `klp_ops for ${func.oldName}`);
      } catch (e) {
        return ftraceRet(e);
      }
      // the ftrace_ops lives inside the klp_ops, as in the kernel; permanent, as since
      // 7162431dcf72 ("ftrace: Introduce PERMANENT ftrace_ops flag"): kernel.ftrace_enabled=0
      // would silently let every call run the old function again
      const fops = new FtraceOps({
        func: 'klp_ftrace_handler',
        ipmodify: true,
        permanent: true,
        privateData: addr,
        at: addr + this.L.ops.fops,
      });
      const node = this.k.mem.bytes(func.stackNode, 16).slice();
      const head = addr + this.L.ops.func_stack;
      initListHead(this.k, head);
      listAddRcu(this.k, func.stackNode, head);
      const fail = (ret: number, what: string): number => {
        prErr(this.k, `failed to ${what} for function '${func.oldName}' (${ret})`);
        this.k.mem.write(func.stackNode, node);
        this.k.hostMem.release(addr);
        return ret;
      };
      try {
        ftraceSetFilterIp(this.ftrace, fops, site);
      } catch (e) {
        return fail(ftraceRet(e), 'set ftrace filter');
      }
      try {
        registerFtraceFunction(this.ftrace, fops);
      } catch (e) {
        const ret = ftraceRet(e);
        ftraceSetFilterIp(this.ftrace, fops, site, true);
        return fail(ret, 'register ftrace handler');
      }
      this.opsByFunc.set(func.oldFunc, new KlpOps(this, addr, func.oldFunc, fops));
    } else {
      listAddRcu(this.k, func.stackNode, ops.head);
    }
    func.patched = true;
    this.generation++;
    return 0;
  }

  /** klp_unpatch_func(). */
  unpatchFunc(func: KlpFunc): void {
    if (warnOn(this.k, !func.patched, `${func.oldName} is not patched`)) return;
    const ops = this.findOps(func.oldFunc);
    if (warnOn(this.k, !ops, `no klp_ops for ${func.oldName}`) || !ops) return;
    if (listIsSingular(this.k, ops.head)) {
      // The last func: ftrace lets go of the ops first, so no new call reaches the handler, and
      // the func leaves the list only once the handlers already running (a vCPU stopped in one,
      // or a task preempted in the trampoline on its way there) have returned -- they must
      // still find it, not an empty func_stack. The kernel waits for them inside
      // unregister_ftrace_function() before its list_del_rcu(); the host cannot block here, so
      // the list goes with the ops' memory, freed after ftrace's grace period.
      unregisterFtraceFunction(this.ftrace, ops.fops);
      this.opsByFunc.delete(func.oldFunc);
      ftraceAfterGracePeriod(this.ftrace, () => this.k.hostMem.release(ops.address), ops.fops);
    } else {
      listDelRcu(this.k, func.stackNode);
    }
    func.patched = false;
    this.generation++;
  }

  /** klp_patch_object(): all of an object's funcs, or none. */
  patchObject(obj: KlpObject): number {
    if (warnOn(this.k, obj.patched, `object ${obj.displayName} is already patched`)) return -EINVAL;
    for (const func of obj.funcs) {
      const ret = this.patchFunc(func);
      if (ret) {
        this.unpatchObject(obj);
        return ret;
      }
    }
    obj.setPatched(true);
    return 0;
  }

  /** klp_unpatch_object() (only the nops of dynamic objects when nopsOnly). */
  unpatchObject(obj: KlpObject, nopsOnly = false): void {
    for (const func of obj.funcs) {
      if (nopsOnly && !func.nop) continue;
      if (func.patched) this.unpatchFunc(func);
    }
    if (obj.dynamic || !nopsOnly) obj.setPatched(false);
  }

  /** klp_unpatch_objects(). */
  unpatchObjects(patch: KlpPatch, nopsOnly = false): void {
    for (const obj of patch.objs) if (obj.patched) this.unpatchObject(obj, nopsOnly);
  }
}
