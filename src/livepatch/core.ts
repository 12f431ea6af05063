// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch core (kernel/livepatch/core.c): the list of patches, enabling and disabling,
 * the sysfs attributes, callbacks, atomic replace, and the host calls the guest makes
 * (klp_enable_patch() from a patch module's init, the cond_resched() switch). One operation at
 * a time, as under klp_mutex: host work runs serially in khostd, and the host calls a guest
 * makes while an operation waits for guest code re-enter only where the kernel allows it.
 */
import { type Kernel, callGuest, type HostTask, cpuCurr, sysfsWriteEvent, type Task } from '../kernel/index.ts';
import type { Vcpu } from '../emu/index.ts';
import type { Ftrace } from '../ftrace/index.ts';
import type { OrcUnwinder } from '../orc/index.ts';
import { AmbiguousSymbolError, SymbolNotFoundError } from '../elf/index.ts';
import { KlpLayout, KlpFunc, KlpObject, KlpPatch, KLP_PATCHED, KLP_UNPATCHED, readPatch } from './structs.ts';
import { EBUSY, EINVAL, ENODEV } from '../elf/index.ts';
import { KlpPatcher } from './patch.ts';
import { LivepatchError } from './errors.ts';
import { prErr, prNotice, prWarn, warnOn } from './log.ts';
import { KlpTransition, type KlpTransitionCore } from './transition.ts';
import { type KlpQuirks, readKlpQuirks } from './quirks.ts';
import { klpCallbackEvent } from './events.ts';
import { isPatchCompatible, klpGetPrevState } from './state.ts';
import { clearRelocs, commitRelocs, prepareObjectRelocs, type KlpModuleElf, type KlpRelocWrite } from './relocs.ts';
import { sysfsRead, sysfsTree, sysfsWrite, type KlpSysfsCore } from './sysfs.ts';

export { LivepatchError } from './errors.ts';

/** Where the livepatch core finds modules: names and loaded state (the module loader's job). */
export interface ModuleInfo {
  /** Name of the module whose memory holds address (the patch module of a klp_patch). */
  nameAt(address: bigint): string | undefined;
  /** Whether the module says MODULE_INFO(livepatch, "Y") (is_livepatch_module()). */
  isLivepatchModule?(name: string): boolean;
  isLoaded(name: string): boolean;
  /** Symbols of a loaded module, kallsyms style. */
  findSymbol(module: string, name: string, sympos: number): bigint;
  /** The guest's struct module of a loaded module (what klp_object->mod points at). */
  structModule(name: string): bigint | undefined;
  /** Size of the function or object at address, image or module. */
  sizeAt(address: bigint): number | undefined;
  /** try_module_get / module_put / forbidding removal of a forced patch's module. */
  get?(name: string): boolean;
  put?(name: string): void;
  /** A loaded patch module's object file: its livepatch relocation sections (relocs.ts). */
  klpModule?(name: string): KlpModuleElf | undefined;
}

export interface LivepatchOptions {
  /**
   * CONFIG_HAVE_RELIABLE_STACKTRACE: false models an architecture without a reliable unwinder.
   * Then no task is switched by checking its stack; only the switch points the tasks pass
   * themselves (return to user mode, the idle loop), fake signals and force move them.
   */
  reliableStacktrace?: boolean;
}

/**
 * klp_find_func(): the func of obj that patches the same function as `other`. Old_sympos 0
 * ("the only one of that name") and 1 ("the first") name the same function whenever 0 is
 * valid at all, so they count as equal.
 */
export function findFunc(obj: KlpObject, other: KlpFunc): KlpFunc | undefined {
  const pos = (f: KlpFunc) => f.oldSympos || 1;
  return obj.funcs.find((f) => f.oldName === other.oldName && pos(f) === pos(other));
}

export class Livepatch implements KlpTransitionCore, KlpSysfsCore {
  readonly L: KlpLayout;
  readonly patcher: KlpPatcher;
  /** klp_patches, oldest first (stack_order counts from 1). */
  readonly patches: KlpPatch[] = [];
  /** transition.c's state and functions: the patch in transition, the target, the retries. */
  readonly transition: KlpTransition;

  /** klp_have_reliable_stack() */
  readonly haveReliableStack: boolean;
  /** The fixes a boot quirk undoes, from the kernel's boot_params. */
  readonly quirks: KlpQuirks;
  /** The livepatch relocations written for each loaded object, to clear them when it goes. */
  private readonly relocs = new WeakMap<KlpObject, readonly KlpRelocWrite[]>();

  constructor(
    readonly k: Kernel,
    readonly modules: ModuleInfo,
    ftrace: Ftrace,
    /** The kernel's reliable unwinder: the transition checks each task's stack with it. */
    readonly unwinder: OrcUnwinder,
    opts: LivepatchOptions = {},
  ) {
    this.haveReliableStack = opts.reliableStacktrace ?? true;
    this.quirks = readKlpQuirks(k);
    this.L = new KlpLayout(k);
    this.patcher = new KlpPatcher(k, this.L, this.patches, ftrace);
    const L = k.layout;
    k.host.register(L.constant('HC_KLP_ENABLE'), (cpu, a) => this.enableHostCall(cpu, a.a0));
    k.host.register(L.constant('HC_KLP_TRY_SWITCH'), (cpu) => this.schedTrySwitch(cpu));
    k.host.register(L.constant('HC_KLP_GET_PREV_STATE'), (_cpu, a) => this.getPrevState(a.a0));
    this.transition = new KlpTransition(this);
  }

  /** The patch in transition, or null (klp_transition_patch). */
  get transitionPatch(): KlpPatch | null {
    return this.transition.transitionPatch;
  }

  /** klp_target_state: KLP_UNDEFINED outside a transition. */
  get targetState(): number {
    return this.transition.targetState;
  }

  // --- host work ---------------------------------------------------------------------------

  /** The task khostd runs as (the current task of host work), if it is on a cpu. */
  currentTask(): Task | null {
    for (let c = 0; c < this.k.nrCpus; c++) {
      const t = cpuCurr(this.k, c);
      if (t.comm === 'khostd') return t;
    }
    return null;
  }

  // --- callbacks ---------------------------------------------------------------------------

  *prePatchCallback(obj: KlpObject): HostTask<number> {
    let ret = 0;
    if (obj.callbacks.prePatch) ret = yield* this.callback('pre_patch', obj, obj.callbacks.prePatch);
    obj.postUnpatchEnabled = !ret;
    return ret;
  }
  *postPatchCallback(obj: KlpObject): HostTask<void> {
    if (obj.callbacks.postPatch) yield* this.callback('post_patch', obj, obj.callbacks.postPatch);
  }
  *preUnpatchCallback(obj: KlpObject): HostTask<void> {
    if (obj.callbacks.preUnpatch) yield* this.callback('pre_unpatch', obj, obj.callbacks.preUnpatch);
  }
  *postUnpatchCallback(obj: KlpObject): HostTask<void> {
    if (obj.callbacks.postUnpatch && obj.postUnpatchEnabled) yield* this.callback('post_unpatch', obj, obj.callbacks.postUnpatch);
    obj.postUnpatchEnabled = false;
  }

  /** Runs one of obj's callbacks in the guest, its start and end in the event log. */
  private *callback(which: string, obj: KlpObject, fn: bigint): HostTask<number> {
    klpCallbackEvent(this.k, which, obj.displayName, false);
    const ret = Number(BigInt.asIntN(32, yield* callGuest(fn, obj.address)));
    klpCallbackEvent(this.k, which, obj.displayName, true, ret);
    return ret;
  }

  // --- initialising a patch ----------------------------------------------------------------

  /**
   * klp_find_object_symbol(), with the kernel's messages: no symbol of that name at all, several
   * and no sympos (the object's name printed as is, so vmlinux's NULL shows as printk's
   * "(null)"), or a sympos past the symbols there are (vmlinux named).
   */
  private findSymbol(objname: string | null, name: string, sympos: number): bigint {
    try {
      if (objname === null) return this.k.image.elf.findSymbol(name, sympos || undefined).value;
      return this.modules.findSymbol(objname, name, sympos);
    } catch (e) {
      if (e instanceof AmbiguousSymbolError)
        prErr(this.k, `unresolvable ambiguity for symbol '${name}' in object '${objname ?? '(null)'}'`);
      else if (e instanceof SymbolNotFoundError && sympos && e.candidates)
        prErr(this.k, `symbol position ${sympos} for symbol '${name}' in object '${objname ?? 'vmlinux'}' not found`);
      else prErr(this.k, `symbol '${name}' not found in symbol table`);
      throw new LivepatchError(EINVAL, (e as Error).message);
    }
  }

  /**
   * klp_init_object_loaded(): resolve every function of an object that is present now, and
   * compute its livepatch relocations (relocs.ts), which the caller writes with
   * commitObjectRelocs() once nothing else can fail.
   */
  private initObjectLoaded(obj: KlpObject): KlpRelocWrite[] {
    const pmod = this.modules.klpModule?.(obj.patch.name);
    const relocs = pmod ? prepareObjectRelocs(this.k, pmod, obj.name, (o, n, pos) => this.findSymbol(o, n, pos)) : [];
    for (const func of obj.funcs) {
      // all looked up and checked before any is stored: a failed lookup leaves the func as it was
      const oldFunc = this.findSymbol(obj.name, func.oldName, func.oldSympos);
      const oldSize = this.modules.sizeAt(oldFunc) ?? 0;
      if (!oldSize) {
        prErr(this.k, `kallsyms size lookup failed for '${func.oldName}'`);
        throw new LivepatchError(EINVAL, `no size for ${func.oldName}`);
      }
      const newFunc = func.nop ? oldFunc : func.newFunc;
      const newSize = this.modules.sizeAt(newFunc) ?? 0;
      if (!newSize) {
        prErr(this.k, `kallsyms size lookup failed for '${func.oldName}' replacement`);
        throw new LivepatchError(EINVAL, `no size for the new ${func.oldName}`);
      }
      func.oldFunc = oldFunc;
      func.oldSize = oldSize;
      func.newFunc = newFunc;
      func.newSize = newSize;
    }
    return relocs;
  }

  /** klp_apply_object_relocs()'s writing half. */
  private commitObjectRelocs(obj: KlpObject, writes: readonly KlpRelocWrite[]): void {
    commitRelocs(this.k, writes);
    this.relocs.set(obj, writes);
  }

  /** klp_clear_object_relocs(): the object goes; its relocated fields back to zero. */
  private clearObjectRelocs(obj: KlpObject): void {
    const writes = this.relocs.get(obj);
    if (!writes) return;
    this.relocs.delete(obj);
    clearRelocs(this.k, writes);
  }

  /**
   * klp_find_object_module(): point obj->mod at the object's module if it is loaded, which
   * makes the object loaded (klp_is_object_loaded()); vmlinux needs no module.
   */
  private findObjectModule(obj: KlpObject): void {
    if (obj.name !== null && this.modules.isLoaded(obj.name)) obj.setMod(this.modules.structModule(obj.name) ?? 0n);
  }

  private initPatch(patch: KlpPatch): void {
    const relocs: Array<[KlpObject, KlpRelocWrite[]]> = [];
    for (const obj of patch.objs) {
      const dup = patch.objs.filter((o) => o.name === obj.name);
      if (dup.length > 1) throw new LivepatchError(EINVAL, `object ${obj.displayName} listed twice`);
      this.findObjectModule(obj);
      if (obj.loaded) relocs.push([obj, this.initObjectLoaded(obj)]);
    }
    if (patch.replace) this.addNops(patch);
    // every object resolved: only now does any relocation reach guest memory
    for (const [obj, writes] of relocs) this.commitObjectRelocs(obj, writes);
    this.patches.push(patch);
  }

  /**
   * klp_find_object(): the object of patch that targets the same code as old_obj: the same
   * module, or vmlinux for both (a null name).
   */
  private findObject(patch: KlpPatch, oldObj: KlpObject): KlpObject | undefined {
    return patch.objs.find((o) => o.name === oldObj.name);
  }

  /**
   * klp_alloc_object_dynamic(): an object the patch author did not declare, to hold nops for
   * a module an older patch changes. The host allocates it in guest memory so the guest's
   * views (obj->mod, obj->patched) work as for a declared one, and the patch owns the block.
   * It has no callbacks: those belong to the author's objects only.
   */
  private allocObjectDynamic(name: string | null, patch: KlpPatch): KlpObject {
    const addr = this.k.hostMem.alloc(Number(this.L.objSize), 16, `dynamic klp_object for ${name ?? 'vmlinux'}`);
    patch.hostBlocks.push(addr);
    const obj = new KlpObject(this.k, this.L, addr, patch, name, { prePatch: 0n, postPatch: 0n, preUnpatch: 0n, postUnpatch: 0n }, true);
    patch.objs.push(obj);
    return obj;
  }

  /**
   * klp_alloc_func_nop(): a func whose new code is the old code, so that switching a task to
   * the replace patch takes it back to the original function. When the object is loaded it
   * copies the older func's resolution (same symbol, same sympos) instead of looking it up;
   * otherwise klp_init_object_loaded() resolves it when the module comes.
   */
  private allocFuncNop(oldFunc: KlpFunc, obj: KlpObject): KlpFunc {
    const patch = obj.patch;
    const faddr = this.k.hostMem.alloc(Number(this.L.funcSize), 16, `nop for ${oldFunc.oldName}`);
    patch.hostBlocks.push(faddr);
    const nop = new KlpFunc(this.k, this.L, faddr, obj, oldFunc.oldName, oldFunc.oldSympos);
    nop.nop = true;
    if (obj.loaded) {
      nop.oldFunc = oldFunc.oldFunc;
      nop.oldSize = oldFunc.oldSize;
      nop.newFunc = oldFunc.oldFunc;
      nop.newSize = oldFunc.oldSize;
    }
    obj.funcs.push(nop);
    return nop;
  }

  /**
   * klp_add_object_nops(): a nop in patch for every function of old_obj that patch does not
   * change itself. The nops of an older replace patch are skipped: they stand for the original
   * code, which needs no nop. The object is allocated only when a nop needs a home, so a
   * replace patch gains no empty dynamic object.
   */
  private addObjectNops(patch: KlpPatch, oldObj: KlpObject): void {
    let obj = this.findObject(patch, oldObj);
    for (const oldFunc of oldObj.funcs) {
      if (oldFunc.nop) continue;
      if (obj && findFunc(obj, oldFunc)) continue;
      if (!obj) {
        obj = this.allocObjectDynamic(oldObj.name, patch);
        // The module is there or not whichever patch looks: take the module the older patch
        // found, so that allocFuncNop() can copy its resolved addresses.
        obj.setMod(oldObj.mod);
      }
      this.allocFuncNop(oldFunc, obj);
    }
  }

  /**
   * klp_add_nops(): a replace patch takes over every function an older patch changes; where it
   * does not change one itself, a dynamic nop func stands for the original code. Disabled
   * patches change nothing, so only enabled ones count, and the patch in transition, whose
   * functions tasks may still run.
   */
  private addNops(patch: KlpPatch): void {
    for (const old of this.patches) {
      if (!old.enabled && old !== this.transitionPatch) continue;
      for (const oldObj of old.objs) this.addObjectNops(patch, oldObj);
    }
  }

  // --- enable / disable --------------------------------------------------------------------

  /** HC_KLP_ENABLE: klp_enable_patch() from a patch module's init, in that task. */
  private *enableHostCall(cpu: Vcpu, patchAddr: bigint): HostTask<number> {
    // the patch names its module (.mod = THIS_MODULE), as the kernel requires; the name is the
    // one in that struct module, in guest memory
    const mod = patchAddr ? this.k.mem.u64(patchAddr + this.L.patch.mod) : 0n;
    if (!mod) return -EINVAL;
    const name = this.k.mem.cstring(mod + BigInt(this.k.layout.offset('module', 'name')), 56);
    if (!this.modules.isLoaded(name)) return -EINVAL;
    if (this.modules.isLivepatchModule && !this.modules.isLivepatchModule(name)) {
      prErr(this.k, `module ${name} is not marked as a livepatch module`);
      return -EINVAL;
    }
    const patch = readPatch(this.k, this.L, patchAddr, name);
    if (!patch.objs.length) return -EINVAL;
    if (!this.haveReliableStack) {
      prWarn(this.k, "This architecture doesn't have support for the livepatch consistency model.");
      prWarn(this.k, 'The livepatch transition may never complete.');
    }
    if (!isPatchCompatible(this.patches, patch)) {
      prErr(this.k, `Livepatch patch (${name}) is not compatible with the already installed livepatches.`);
      return -EINVAL;
    }
    if (this.modules.get && !this.modules.get(name)) return -ENODEV;
    try {
      this.initPatch(patch);
    } catch (e) {
      this.freePatch(patch);
      if (e instanceof LivepatchError) return -e.errno;
      throw e;
    }
    const ret = yield* this.enable(patch, cpuCurr(this.k, cpu.index));
    if (ret) this.freePatch(patch);
    return ret;
  }

  /** __klp_enable_patch(). */
  private *enable(patch: KlpPatch, current: Task): HostTask<number> {
    const k = this.k;
    if (this.transitionPatch) return -EBUSY;
    if (warnOn(k, patch.enabled, `${patch.name} already enabled`)) return -EINVAL;
    prNotice(k, `enabling patch '${patch.name}'`);
    yield* this.transition.initTransition(patch, KLP_PATCHED);
    for (const obj of patch.objs) {
      if (!obj.loaded) continue;
      let ret = yield* this.prePatchCallback(obj);
      if (ret) {
        prWarn(k, `pre-patch callback failed for object '${obj.displayName}'`);
      } else {
        ret = this.patcher.patchObject(obj);
        if (ret) prWarn(k, `failed to patch object '${obj.displayName}'`);
      }
      if (ret) {
        prWarn(k, `failed to enable patch '${patch.name}'`);
        yield* this.transition.cancelTransition();
        return ret;
      }
    }
    yield* this.transition.startTransition();
    patch.enabled = true;
    yield* this.transition.tryCompleteTransition(current);
    return 0;
  }

  /** __klp_disable_patch(). */
  *disable(patch: KlpPatch, current: Task | null): HostTask<number> {
    if (warnOn(this.k, !patch.enabled, `${patch.name} not enabled`)) return -EINVAL;
    if (this.transitionPatch) return -EBUSY;
    yield* this.transition.initTransition(patch, KLP_UNPATCHED);
    for (const obj of patch.objs) if (obj.patched) yield* this.preUnpatchCallback(obj);
    yield* this.transition.startTransition();
    patch.enabled = false;
    yield* this.transition.tryCompleteTransition(current);
    return 0;
  }

  // --- replace -----------------------------------------------------------------------------

  /** klp_unpatch_replaced_patches(): the older patches stop being patched (no callbacks). */
  unpatchReplacedPatches(newPatch: KlpPatch): void {
    for (const old of this.patches) {
      if (old === newPatch) break;
      old.enabled = false;
      this.patcher.unpatchObjects(old);
    }
  }

  /** klp_discard_nops(): the nops of a replace patch have done their job. */
  discardNops(patch: KlpPatch): void {
    this.patcher.unpatchObjects(patch, true);
    for (const obj of patch.objs) {
      for (let i = obj.funcs.length - 1; i >= 0; i--) if (obj.funcs[i].nop) obj.funcs.splice(i, 1);
    }
    for (let i = patch.objs.length - 1; i >= 0; i--) if (patch.objs[i].dynamic && !patch.objs[i].funcs.length) patch.objs.splice(i, 1);
  }

  /** klp_free_replaced_patches_async(): after post_patch, the superseded patches go. */
  freeReplaced(newPatch: KlpPatch): void {
    for (const old of [...this.patches]) if (old !== newPatch) this.freePatch(old);
  }

  /** klp_free_patch(): off the list, guest memory back, module reference dropped. */
  freePatch(patch: KlpPatch): void {
    const i = this.patches.indexOf(patch);
    if (i >= 0) this.patches.splice(i, 1);
    for (const b of patch.hostBlocks.splice(0)) this.k.hostMem.release(b);
    if (!this.transition.keepsModule(patch)) this.modules.put?.(patch.name);
  }

  // --- modules that load and unload later --------------------------------------------------

  /**
   * klp_module_coming(): a module is being loaded; patches for it apply now, before its init.
   * Returns 0, or -errno to refuse the load.
   */
  moduleComing(name: string): number {
    if (name === 'vmlinux') {
      prErr(this.k, 'vmlinux.ko: invalid module name');
      return -EINVAL;
    }
    return this.k.host.run(`klp_module_coming ${name}`, this.coming(name));
  }

  private *coming(name: string): HostTask<number> {
    for (const patch of this.patches) {
      const obj = patch.objs.find((o) => o.name === name);
      if (!obj) continue;
      let ret = 0;
      obj.setMod(this.modules.structModule(name) ?? 0n);
      try {
        this.commitObjectRelocs(obj, this.initObjectLoaded(obj));
      } catch (e) {
        if (!(e instanceof LivepatchError)) throw e;
        ret = -e.errno;
        prWarn(this.k, `failed to initialize patch '${patch.name}' for module '${name}' (${ret})`);
      }
      if (!ret) {
        prNotice(this.k, `applying patch '${patch.name}' to loading module '${name}'`);
        ret = yield* this.prePatchCallback(obj);
        if (ret) prWarn(this.k, `pre-patch callback failed for object '${name}'`);
        else {
          ret = this.patcher.patchObject(obj);
          if (ret) {
            prWarn(this.k, `failed to apply patch '${patch.name}' to module '${name}' (${ret})`);
            // pre_patch succeeded: its post_unpatch undoes what it prepared
            yield* this.postUnpatchCallback(obj);
          }
        }
      }
      if (ret) {
        prWarn(this.k, `patch '${patch.name}' failed for module '${name}', refusing to load module '${name}'`);
        // the kernel leaves them written here; cleared, so a refused load leaves no trace
        this.clearObjectRelocs(obj);
        obj.setMod(0n);
        yield* this.cleanupModulePatches(name, patch);
        return ret;
      }
      if (patch !== this.transitionPatch) yield* this.postPatchCallback(obj);
    }
    return 0;
  }

  /** klp_module_going(): the module is going away; patches for it are reverted. */
  moduleGoing(name: string): void {
    this.k.host.run(`klp_module_going ${name}`, this.cleanupModulePatches(name, null));
  }

  /** klp_cleanup_module_patches_limited(): revert the patches (older than limit) of a module. */
  private *cleanupModulePatches(name: string, limit: KlpPatch | null): HostTask<number> {
    for (const patch of this.patches) {
      if (patch === limit) break;
      const obj = patch.objs.find((o) => o.name === name);
      if (!obj || !obj.loaded) continue;
      if (patch !== this.transitionPatch) yield* this.preUnpatchCallback(obj);
      prNotice(this.k, `reverting patch '${patch.name}' on unloading module '${name}'`);
      this.patcher.unpatchObject(obj);
      yield* this.postUnpatchCallback(obj);
      this.clearObjectRelocs(obj);
      obj.setMod(0n);
      for (const f of obj.funcs) f.oldFunc = 0n;
    }
    return 0;
  }

  /** HC_KLP_GET_PREV_STATE: the guest address of klp_get_prev_state(id), or NULL. */
  private *getPrevState(id: bigint): HostTask<bigint> {
    return klpGetPrevState(this.k, this.patches, this.transitionPatch, id)?.address ?? 0n;
  }

  // --- cond_resched() ----------------------------------------------------------------------

  /** HC_KLP_TRY_SWITCH: __klp_sched_try_switch(): current checks its own stack. */
  private *schedTrySwitch(cpu: Vcpu): HostTask<number> {
    this.transition.schedTrySwitch(cpuCurr(this.k, cpu.index));
    return 0;
  }

  // --- sysfs (sysfs.ts) ---------------------------------------------------------------------

  patch(name: string): KlpPatch {
    const p = this.patches.find((x) => x.name === name);
    if (!p) throw new LivepatchError(ENODEV, `no such patch: /sys/kernel/livepatch/${name}`);
    return p;
  }

  /** cat /sys/kernel/livepatch/<patch>/<attr> */
  sysfsRead(path: string): string {
    return sysfsRead(this, path);
  }

  /** echo value > /sys/kernel/livepatch/<patch>/{enabled,force} */
  sysfsWrite(path: string, value: string): void {
    try {
      sysfsWrite(this, path, value);
    } catch (e) {
      sysfsWriteEvent(this.k, path, value, e instanceof LivepatchError ? e.errno : -1);
      throw e;
    }
    sysfsWriteEvent(this.k, path, value);
  }

  /** The directory tree under /sys/kernel/livepatch, one path per line. */
  sysfsTree(): string[] {
    return sysfsTree(this);
  }

  /** The state names for tests and reports. */
  static stateName(s: number): string {
    return s === KLP_PATCHED ? 'patched' : s === KLP_UNPATCHED ? 'unpatched' : 'undefined';
  }
}
