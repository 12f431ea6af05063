// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch structures, include/linux/livepatch.h's klp_patch / klp_object / klp_func:
 * views over the C data a patch module declares in guest memory. Every field the kernel keeps
 * in these structures (old_func, patched, transition, obj->mod, patch->enabled, ...) is read
 * and written in guest memory, the one copy, which the guest's handler reads too. The host
 * keeps what the kernel keeps as lists and kobjects (a patch's objects and funcs, their names)
 * and what the author declared, read once (names, sympos, callbacks, replace).
 */
import type { Kernel } from '../kernel/index.ts';

export const KLP_UNDEFINED = -1;
export const KLP_UNPATCHED = 0;
export const KLP_PATCHED = 1;

/** Offsets of the guest structures, read once from the layout. */
export class KlpLayout {
  readonly func: Record<string, bigint>;
  readonly obj: Record<string, bigint>;
  readonly cb: Record<string, bigint>;
  readonly patch: Record<string, bigint>;
  readonly state: Record<string, bigint>;
  readonly ops: Record<string, bigint>;
  readonly funcSize: bigint;
  readonly objSize: bigint;
  readonly stateSize: bigint;
  readonly opsSize: number;
  readonly listNext: bigint;
  readonly listPrev: bigint;

  constructor(k: Kernel) {
    const L = k.layout;
    const pick = (s: string, ms: string[]) => Object.fromEntries(ms.map((m) => [m, BigInt(L.offset(s, m))]));
    this.func = pick('klp_func', [
      'old_name',
      'new_func',
      'old_sympos',
      'old_func',
      'old_size',
      'new_size',
      'stack_node',
      'nop',
      'patched',
      'transition',
    ]);
    this.obj = pick('klp_object', ['name', 'funcs', 'callbacks', 'mod', 'patched']);
    this.cb = pick('klp_callbacks', ['pre_patch', 'post_patch', 'pre_unpatch', 'post_unpatch', 'post_unpatch_enabled']);
    this.patch = pick('klp_patch', ['mod', 'objs', 'states', 'replace', 'enabled', 'forced']);
    this.state = pick('klp_state', ['id', 'version', 'data']);
    this.ops = pick('klp_ops', ['func_stack', 'fops']);
    this.funcSize = BigInt(L.sizeof('klp_func'));
    this.objSize = BigInt(L.sizeof('klp_object'));
    this.stateSize = BigInt(L.sizeof('klp_state'));
    this.opsSize = L.sizeof('klp_ops');
    this.listNext = BigInt(L.offset('list_head', 'next'));
    this.listPrev = BigInt(L.offset('list_head', 'prev'));
  }
}

export class KlpFunc {
  constructor(
    readonly k: Kernel,
    readonly L: KlpLayout,
    /** The guest struct klp_func (for a dynamic nop: allocated by the host). */
    readonly address: bigint,
    readonly object: KlpObject,
    readonly oldName: string,
    readonly oldSympos: number,
  ) {}

  get stackNode(): bigint {
    return this.address + this.L.func.stack_node;
  }

  /** func->old_size, in guest memory only: set by klp_init_object_loaded() with old_func. */
  get oldSize(): number {
    return Number(this.k.mem.u64(this.address + this.L.func.old_size));
  }
  set oldSize(v: number) {
    this.k.mem.setU64(this.address + this.L.func.old_size, BigInt(v));
  }

  /**
   * func->old_func, in guest memory only: resolved by klp_init_object_loaded(), 0 while the
   * object's module is not loaded.
   */
  get oldFunc(): bigint {
    return this.k.mem.u64(this.address + this.L.func.old_func);
  }
  set oldFunc(v: bigint) {
    this.k.mem.setU64(this.address + this.L.func.old_func, v);
  }

  /**
   * func->new_func, in guest memory only: as the author wrote it, or for a nop the old_func
   * once resolved (a zeroed host block until then).
   */
  get newFunc(): bigint {
    return this.k.mem.u64(this.address + this.L.func.new_func);
  }
  set newFunc(v: bigint) {
    this.k.mem.setU64(this.address + this.L.func.new_func, v);
  }

  /** func->new_size, in guest memory only: the size of new_func (of old_func for a nop). */
  get newSize(): number {
    return Number(this.k.mem.u64(this.address + this.L.func.new_size));
  }
  set newSize(v: number) {
    this.k.mem.setU64(this.address + this.L.func.new_size, BigInt(v));
  }

  /**
   * func->nop, in guest memory only: set by klp_alloc_func_nop() for the funcs the host adds;
   * the handler reads it to run the original code.
   */
  get nop(): boolean {
    return this.k.mem.u8(this.address + this.L.func.nop) !== 0;
  }
  set nop(v: boolean) {
    this.k.mem.setU8(this.address + this.L.func.nop, v ? 1 : 0);
  }

  /**
   * func->patched, in guest memory only: the func is on its klp_ops' func_stack. A host copy
   * would be a second truth to keep equal to the guest's.
   */
  get patched(): boolean {
    return this.k.mem.u8(this.address + this.L.func.patched) !== 0;
  }
  set patched(v: boolean) {
    this.k.mem.setU8(this.address + this.L.func.patched, v ? 1 : 0);
  }

  /** func->transition, which the guest handler reads. */
  get transition(): boolean {
    return this.k.mem.u8(this.address + this.L.func.transition) !== 0;
  }
  set transition(v: boolean) {
    this.k.mem.setU8(this.address + this.L.func.transition, v ? 1 : 0);
  }

  /**
   * The func's sysfs directory, "<name>,<sympos>". 0 ("the only one") is shown as 1: for
   * a unique symbol both name the same function, and sysfs gives it one name.
   */
  toString(): string {
    return `${this.oldName},${this.oldSympos || 1}`;
  }
}

export interface KlpCallbacks {
  prePatch: bigint;
  postPatch: bigint;
  preUnpatch: bigint;
  postUnpatch: bigint;
}

export class KlpObject {
  readonly funcs: KlpFunc[] = [];

  constructor(
    readonly k: Kernel,
    readonly L: KlpLayout,
    readonly address: bigint,
    readonly patch: KlpPatch,
    /** A loadable module, or null for the kernel image. */
    readonly name: string | null,
    readonly callbacks: KlpCallbacks,
    /** Created by the host for atomic replace (holds only nops). */
    readonly dynamic = false,
  ) {}

  /** The name sysfs shows: the module, or "vmlinux". */
  get displayName(): string {
    return this.name ?? 'vmlinux';
  }

  /**
   * obj->callbacks.post_unpatch_enabled, in guest memory only: pre_patch ran and succeeded,
   * so post_unpatch may run.
   */
  get postUnpatchEnabled(): boolean {
    return this.k.mem.u8(this.address + this.L.obj.callbacks + this.L.cb.post_unpatch_enabled) !== 0;
  }
  set postUnpatchEnabled(v: boolean) {
    this.k.mem.setU8(this.address + this.L.obj.callbacks + this.L.cb.post_unpatch_enabled, v ? 1 : 0);
  }

  /** obj->patched, in guest memory only (no host copy to keep equal to it). */
  get patched(): boolean {
    return this.k.mem.u8(this.address + this.L.obj.patched) !== 0;
  }
  setPatched(v: boolean): void {
    this.k.mem.setU8(this.address + this.L.obj.patched, v ? 1 : 0);
  }

  /** obj->mod, in guest memory only: the module's struct module while it is loaded (0 for vmlinux or when gone). */
  get mod(): bigint {
    return this.k.mem.u64(this.address + this.L.obj.mod);
  }
  setMod(structModule: bigint): void {
    this.k.mem.setU64(this.address + this.L.obj.mod, structModule);
  }

  /**
   * klp_is_object_loaded(): vmlinux always is; a module's object while obj->mod points at the
   * module, which the core sets when it finds the module and clears when the module goes.
   */
  get loaded(): boolean {
    return this.name === null || this.mod !== 0n;
  }
}

export interface KlpState {
  /** The guest struct klp_state, in the patch module. */
  address: bigint;
  id: bigint;
  version: number;
  data: bigint;
}

export class KlpPatch {
  readonly objs: KlpObject[] = [];
  readonly states: KlpState[] = [];
  /** Guest blocks the host allocated for this patch (dynamic objects, nops), freed with it. */
  readonly hostBlocks: bigint[] = [];

  constructor(
    readonly k: Kernel,
    readonly L: KlpLayout,
    readonly address: bigint,
    /** The patch module's name. */
    readonly name: string,
    readonly replace: boolean,
  ) {}

  /** patch->enabled, in guest memory only: the patch is (being) applied, or reverting if not. */
  get enabled(): boolean {
    return this.k.mem.u8(this.address + this.L.patch.enabled) !== 0;
  }
  set enabled(v: boolean) {
    this.k.mem.setU8(this.address + this.L.patch.enabled, v ? 1 : 0);
  }

  /**
   * patch->forced, in guest memory only: a task was forced while this patch's code could still
   * run, so its module must never be removed (klp_free_patch keeps the reference).
   */
  get forced(): boolean {
    return this.k.mem.u8(this.address + this.L.patch.forced) !== 0;
  }
  set forced(v: boolean) {
    this.k.mem.setU8(this.address + this.L.patch.forced, v ? 1 : 0);
  }
}

/** Reads the patch a module declared, as klp_enable_patch() receives it. */
export function readPatch(k: Kernel, L: KlpLayout, address: bigint, name: string): KlpPatch {
  const m = k.mem;
  const patch = new KlpPatch(k, L, address, name, m.u8(address + L.patch.replace) !== 0);
  let objAddr = m.u64(address + L.patch.objs);
  for (; objAddr && m.u64(objAddr + L.obj.funcs); objAddr += L.objSize) {
    const namePtr = m.u64(objAddr + L.obj.name);
    const cb = objAddr + L.obj.callbacks;
    const obj = new KlpObject(k, L, objAddr, patch, namePtr ? m.cstring(namePtr, 64) : null, {
      prePatch: m.u64(cb + L.cb.pre_patch),
      postPatch: m.u64(cb + L.cb.post_patch),
      preUnpatch: m.u64(cb + L.cb.pre_unpatch),
      postUnpatch: m.u64(cb + L.cb.post_unpatch),
    });
    for (let f = m.u64(objAddr + L.obj.funcs); m.u64(f + L.func.old_name); f += L.funcSize) {
      obj.funcs.push(new KlpFunc(k, L, f, obj, m.cstring(m.u64(f + L.func.old_name), 128), Number(m.u64(f + L.func.old_sympos))));
    }
    patch.objs.push(obj);
  }
  const statesAddr = m.u64(address + L.patch.states);
  for (let s = statesAddr; s && m.u64(s + L.state.id); s += L.stateSize)
    patch.states.push({ address: s, id: m.u64(s + L.state.id), version: m.u32(s + L.state.version), data: m.u64(s + L.state.data) });
  return patch;
}
