// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /sys/kernel/livepatch (the sysfs half of kernel/livepatch/core.c): one directory per patch
 * with enabled (rw), transition, replace and stack_order (ro) and force (wo); one directory per
 * object with patched (ro); one per function ("name,sympos"), empty. There is no `signal`
 * attribute any more (0b3d52790e1c ("livepatch: Remove signal sysfs attribute")): fake signals
 * are sent by the core on its own.
 *
 * Writes run as host work in task context (khostd stands for the writing process) and return
 * once the write(2) would have returned; errors are LivepatchErrors with the kernel's errno.
 */
import { type HostTask, kstrtobool, type Kernel, type Task } from '../kernel/index.ts';
import { EINVAL, ENODEV, EPERM, strerror } from '../elf/index.ts';
import { LivepatchError } from './errors.ts';
import type { KlpPatch } from './structs.ts';
import type { KlpTransition } from './transition.ts';

const ROOT = '/sys/kernel/livepatch';

/** What the attributes read and do in the core (core.c's side of the sysfs code). */
export interface KlpSysfsCore {
  readonly k: Kernel;
  /** klp_patches, oldest first (stack_order counts from 1). */
  readonly patches: readonly KlpPatch[];
  readonly transition: KlpTransition;
  /** The patch of that name; a LivepatchError if there is none. */
  patch(name: string): KlpPatch;
  /** __klp_disable_patch(), in the task the host work runs as. */
  disable(patch: KlpPatch, current: Task | null): HostTask<number>;
  currentTask(): Task | null;
}

/** The mode bits `ls -l` shows for each kind of entry. */
const MODES: Record<string, string> = {
  dir: 'drwxr-xr-x',
  enabled: '-rw-r--r--',
  force: '--w-------',
  transition: '-r--r--r--',
  replace: '-r--r--r--',
  stack_order: '-r--r--r--',
  patched: '-r--r--r--',
};

type Entry =
  | { kind: 'dir'; patch: KlpPatch }
  | { kind: 'attr'; patch: KlpPatch; attr: 'enabled' | 'force' | 'transition' | 'replace' | 'stack_order' }
  | { kind: 'patched'; patch: KlpPatch; object: string };

/** What a path under /sys/kernel/livepatch names; ENOENT-like LivepatchError if nothing. */
function lookup(lp: KlpSysfsCore, path: string): Entry {
  const rel = path.replace(new RegExp(`^${ROOT}/`), '').replace(/\/$/, '');
  const [name, ...rest] = rel.split('/');
  const patch = lp.patch(name);
  const missing = () => new LivepatchError(ENODEV, `no such file or directory: ${path}`);
  if (!rest.length) return { kind: 'dir', patch };
  if (rest.length === 1) {
    const attr = rest[0];
    if (attr === 'enabled' || attr === 'force' || attr === 'transition' || attr === 'replace' || attr === 'stack_order')
      return { kind: 'attr', patch, attr };
    if (patch.objs.some((o) => o.displayName === attr)) return { kind: 'dir', patch };
    throw missing();
  }
  const obj = patch.objs.find((o) => o.displayName === rest[0]);
  if (!obj) throw missing();
  if (rest.length === 2 && rest[1] === 'patched') return { kind: 'patched', patch, object: obj.displayName };
  if (rest.length === 2 && obj.funcs.some((f) => f.toString() === rest[1])) return { kind: 'dir', patch };
  throw missing();
}

/** `ls -ld` of an entry: "-rw-r--r--" and the like. */
export function sysfsMode(lp: KlpSysfsCore, path: string): string {
  const e = lookup(lp, path);
  return MODES[e.kind === 'attr' ? e.attr : e.kind];
}

/** cat of an attribute (a read of force is -EPERM, of a directory -EISDIR-like EINVAL). */
export function sysfsRead(lp: KlpSysfsCore, path: string): string {
  const e = lookup(lp, path);
  const p = e.patch;
  if (e.kind === 'dir') throw new LivepatchError(EINVAL, `${path} is a directory`);
  if (e.kind === 'patched') return p.objs.find((o) => o.displayName === e.object)!.patched ? '1' : '0';
  switch (e.attr) {
    case 'enabled':
      return p.enabled ? '1' : '0';
    case 'transition':
      return p === lp.transition.transitionPatch ? '1' : '0';
    case 'replace':
      return p.replace ? '1' : '0';
    case 'stack_order':
      return String(lp.patches.indexOf(p) + 1);
    case 'force':
      throw new LivepatchError(EPERM, `${path}: Permission denied`);
  }
}

/** Every entry under /sys/kernel/livepatch, directories with a trailing slash. */
export function sysfsTree(lp: KlpSysfsCore): string[] {
  const out: string[] = [];
  for (const p of lp.patches) {
    const base = `${ROOT}/${p.name}`;
    out.push(`${base}/`, `${base}/enabled`, `${base}/transition`, `${base}/force`, `${base}/replace`, `${base}/stack_order`);
    for (const o of p.objs) {
      out.push(`${base}/${o.displayName}/`, `${base}/${o.displayName}/patched`);
      for (const f of o.funcs) out.push(`${base}/${o.displayName}/${f.toString()}/`);
    }
  }
  return out;
}

/** echo value > enabled or force. */
export function sysfsWrite(lp: KlpSysfsCore, path: string, value: string): void {
  const e = lookup(lp, path);
  if (e.kind !== 'attr' || (e.attr !== 'enabled' && e.attr !== 'force')) throw new LivepatchError(EPERM, `${path}: Permission denied`);
  const work = e.attr === 'enabled' ? enabledStore(lp, e.patch, value) : forceStore(lp, value);
  const ret = lp.k.host.run(`echo ${value} > ${path}`, work);
  if (ret) throw new LivepatchError(-ret, `write ${value} to ${path}: ${strerror(ret)}`);
}

/** enabled_store(): only a disable, or a reversal of the patch in transition. */
function* enabledStore(lp: KlpSysfsCore, patch: KlpPatch, value: string): HostTask<number> {
  const enabled = kstrtobool(value.trim());
  if (enabled === undefined) return -EINVAL;
  if (patch.enabled === enabled) return -EINVAL; // already in the requested state
  // a transition can be reversed either way; a disabled patch cannot come back
  if (patch === lp.transition.transitionPatch) {
    yield* lp.transition.reverseTransition();
    return 0;
  }
  if (!enabled) return yield* lp.disable(patch, lp.currentTask());
  return -EINVAL;
}

/** force_store(): only "1", only while a transition runs. */
function* forceStore(lp: KlpSysfsCore, value: string): HostTask<number> {
  const v = kstrtobool(value.trim());
  if (v === undefined || !v) return -EINVAL;
  if (!lp.transition.transitionPatch) return -EINVAL;
  yield* lp.transition.forceTransition();
  return 0;
}
