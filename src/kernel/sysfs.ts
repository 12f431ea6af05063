// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kobjects modules add under /sys/kernel (kobject_create_and_add(name, kernel_kobj),
 * sysfs_create_file()), read from guest memory: the guest's tree, firmware/kernel/kobject.c,
 * is the truth, walked from kernel_kobj. A read of a file calls its attribute's show function
 * in a task, with a page-sized buffer, as the kernel's sysfs does.
 *
 * Guest memory is not trusted: the walk is bounded, and a damaged tree is a SysfsError.
 */
import { type Errno, errnoName, isErrno } from '../elf/index.ts';
import { callGuest, type HostTask } from './hostcall.ts';
import type { Kernel } from './kernel.ts';
import { EV_SYSFS_WRITE } from './events.ts';

export class SysfsError extends Error {
  constructor(
    readonly path: string,
    readonly errno: Errno,
    message: string,
  ) {
    super(`${path}: ${message} (-${errno})`);
    this.name = 'SysfsError';
  }
}

/**
 * Records a write to a sysfs file in the event log (livepatch's files, a module's parameter, a
 * cpu's online): `errno` is 0 when the write was taken, else the refusing errno's number.
 */
export function sysfsWriteEvent(k: Kernel, path: string, value: string, errno = 0): void {
  k.log.hostEvent(EV_SYSFS_WRITE, k.machine.clockNs, 0, -1, errno, 0, 0, `${path}=${value.replace(/\n$/, '')}`);
}

export interface KobjectFile {
  /** /sys/kernel/<dir>/.../<name> */
  readonly path: string;
  readonly mode: number;
  readonly kobj: bigint;
  /** the struct kobj_attribute */
  readonly kattr: bigint;
}

/** More kobjects or files than this is a damaged tree, not a big one. */
const MAX_NODES = 4096;

/** Every file under /sys/kernel that a kobject of the guest holds, directories depth first. */
export function kobjectFiles(k: Kernel): KobjectFile[] {
  const L = k.layout;
  const mem = k.mem;
  const off = (s: string, m: string) => BigInt(L.offset(s, m));
  const out: KobjectFile[] = [];
  let budget = MAX_NODES;
  const each = (head: bigint, entryOff: bigint, fn: (item: bigint) => void) => {
    for (let p = mem.u64(head); p !== head; p = mem.u64(p)) {
      if (--budget < 0 || p === 0n) throw new SysfsError('/sys/kernel', 'EIO', 'the guest kobject tree is damaged');
      fn(p - entryOff);
    }
  };
  const walk = (kobj: bigint, dir: string) => {
    each(kobj + off('kobject', 'files'), off('sysfs_file', 'entry'), (f) => {
      const attr = mem.u64(f + off('sysfs_file', 'attr'));
      out.push({
        path: `${dir}/${mem.cstring(mem.u64(attr + off('attribute', 'name')), 64)}`,
        mode: mem.u16(attr + off('attribute', 'mode')),
        kobj,
        kattr: attr - off('kobj_attribute', 'attr'),
      });
    });
    each(kobj + off('kobject', 'children'), off('kobject', 'entry'), (child) =>
      walk(child, `${dir}/${mem.cstring(mem.u64(child + off('kobject', 'name')), 64)}`),
    );
  };
  walk(mem.u64(k.sym('kernel_kobj')), '/sys/kernel');
  return out;
}

/** A host task: cat of a kobject's file, through its show function. */
export function* kobjectShow(k: Kernel, path: string): HostTask<string> {
  const file = kobjectFiles(k).find((f) => f.path === path);
  if (!file) throw new SysfsError(path, 'ENOENT', 'no such file');
  const L = k.layout;
  const show = k.mem.u64(file.kattr + BigInt(L.offset('kobj_attribute', 'show')));
  if (!show || !(file.mode & 0o444)) throw new SysfsError(path, 'EIO', 'not readable');
  const size = L.constant('SYSFS_BUF_SIZE');
  const buf = k.hostMem.alloc(size, 16, `sysfs buffer for ${path}`);
  try {
    const ret = BigInt.asIntN(64, yield* callGuest(show, file.kobj, file.kattr, buf));
    if (ret < 0n) {
      const name = errnoName(Number(ret));
      throw new SysfsError(path, isErrno(name) ? name : 'EIO', `show function returned ${ret}`);
    }
    if (ret > BigInt(size)) throw new SysfsError(path, 'EIO', `show function returned ${ret}, past the ${size}-byte page`);
    return Buffer.from(k.mem.bytes(buf, Number(ret))).toString('latin1');
  } finally {
    k.hostMem.release(buf);
  }
}
