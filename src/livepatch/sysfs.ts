// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /sys/kernel/livepatch (the sysfs half of kernel/livepatch/core.c): one directory per patch
 * with enabled (rw), transition, replace and stack_order (ro) and force (wo); one directory per
 * object with patched (ro); one per function ("name,sympos"), empty. There is no `signal`
 * attribute any more (0b3d5279): fake signals are sent by the core on its own.
 *
 * Writes run as host work in task context (khostd stands for the writing process) and return
 * once the write(2) would have returned; errors are LivepatchErrors with the kernel's errno.
 */
import { type HostTask, kstrtobool } from '../kernel/index.ts';
import type { Livepatch } from './core.ts';
import { ENODEV, EPERM, LivepatchError } from './errors.ts';
import { EBUSY, EINVAL } from './patch.ts';
import type { KlpPatch } from './structs.ts';
import * as T from './transition.ts';

const ROOT = '/sys/kernel/livepatch';

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
function lookup(lp: Livepatch, path: string): Entry {
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
export function sysfsMode(lp: Livepatch, path: string): string {
  const e = lookup(lp, path);
  return MODES[e.kind === 'attr' ? e.attr : e.kind];
}

/** cat of an attribute (a read of force is -EPERM, of a directory -EISDIR-like EINVAL). */
export function sysfsRead(lp: Livepatch, path: string): string {
  const e = lookup(lp, path);
  const p = e.patch;
  if (e.kind === 'dir') throw new LivepatchError(EINVAL, `${path} is a directory`);
  if (e.kind === 'patched') return p.objs.find((o) => o.displayName === e.object)!.patched ? '1' : '0';
  switch (e.attr) {
    case 'enabled':
      return p.enabled ? '1' : '0';
    case 'transition':
      return p === lp.transitionPatch ? '1' : '0';
    case 'replace':
      return p.replace ? '1' : '0';
    case 'stack_order':
      return String(lp.patches.indexOf(p) + 1);
    case 'force':
      throw new LivepatchError(EPERM, `${path}: Permission denied`);
  }
}

/** Every entry under /sys/kernel/livepatch, directories with a trailing slash. */
export function sysfsTree(lp: Livepatch): string[] {
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
export function sysfsWrite(lp: Livepatch, path: string, value: string): void {
  const e = lookup(lp, path);
  if (e.kind !== 'attr' || (e.attr !== 'enabled' && e.attr !== 'force')) throw new LivepatchError(EPERM, `${path}: Permission denied`);
  const work = e.attr === 'enabled' ? enabledStore(lp, e.patch, value) : forceStore(lp, value);
  const ret = lp.k.host.run(`echo ${value} > ${path}`, work);
  if (ret) throw new LivepatchError(-ret, `write ${value} to ${path}: ${ret === -EBUSY ? 'Device or resource busy' : 'Invalid argument'}`);
}

/** enabled_store(): only a disable, or a reversal of the patch in transition. */
function* enabledStore(lp: Livepatch, patch: KlpPatch, value: string): HostTask<number> {
  const enabled = kstrtobool(value.trim());
  if (enabled === undefined) return -EINVAL;
  if (patch.enabled === enabled) return -EINVAL; // already in the requested state
  // a transition can be reversed either way; a disabled patch cannot come back
  if (patch === lp.transitionPatch) {
    yield* T.reverseTransition(lp);
    return 0;
  }
  if (!enabled) return yield* lp.disable(patch, lp.currentTask()!, lp.hostdCpu());
  return -EINVAL;
}

/** force_store(): only "1", only while a transition runs. */
function* forceStore(lp: Livepatch, value: string): HostTask<number> {
  const v = kstrtobool(value.trim());
  if (v === undefined || !v) return -EINVAL;
  if (!lp.transitionPatch) return -EINVAL;
  yield* T.forceTransition(lp);
  return 0;
}
