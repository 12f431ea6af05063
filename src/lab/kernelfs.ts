// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's files, as ordinary programs see them: the parts of /sys, /proc and /dev that the
 * livepatch selftests and a kernel engineer's own scripts use, served from a booted lab. The
 * FUSE helper (native/klp-fuse.c) forwards its operations here through the control socket.
 *
 *   /sys/kernel/livepatch/**               livepatch/sysfs.ts, with the kernel's modes
 *   /sys/module/<m>/{refcnt,initstate,holders/,parameters/*}  the module registry (a
 *                                          parameter's mode is its perm)
 *   /sys/devices/system/cpu/...            online/possible/present, cpuN/online (hotplug.ts)
 *   /sys/kernel/<kobject>/<attr>           what modules made under kernel_kobj (test_klp_syscall's
 *                                          npids), read through their show functions (sysfs.ts)
 *   /sys/kernel/debug/dynamic_debug/control
 *   /proc/cmdline, /proc/meminfo           the guest's show functions, run as a read would
 *   /proc/kallsyms                         the image's symbols and the loaded modules'
 *   /proc/modules                          the loaded modules, newest first
 *   /proc/sys/kernel/ftrace_enabled         the lab's sysctls (sysctl.ts)
 *   /dev/kmsg                              kmsg.ts (read and write go through their own ops)
 *
 * Opening follows kernfs: a file without read permission bits cannot be opened for reading,
 * one without write bits for writing (EACCES), whatever the opener's privileges.
 */
import {
  CpuHotplugError,
  cpuDown,
  cpuOnline,
  cpuUp,
  DdebugQueryError,
  type Kernel,
  SysctlError,
  type LoadedModule,
  kobjectFiles,
  moduleParams,
  SysfsError,
} from '../kernel/index.ts';
import { LivepatchError, sysfsMode } from '../livepatch/index.ts';
import { FtraceError } from '../ftrace/index.ts';
import {
  errnoName,
  isErrno,
  ModuleError,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHT_NOBITS,
  STB_GLOBAL,
  STB_WEAK,
  STT_FUNC,
  STT_OBJECT,
  type ElfFile,
  type ElfSection,
} from '../elf/index.ts';
import type { Lab } from './selftest.ts';
import { SYSCTLS, sysctlPath } from './sysctl.ts';

/** A file operation the kernel refuses, with the errno read(2)/write(2)/open(2) would give. */
export class KernelFsError extends Error {
  constructor(
    readonly errno: string,
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message} (${errno})`);
    this.name = 'KernelFsError';
  }
}

export interface KernelFsStat {
  readonly kind: 'dir' | 'file';
  /** Permission bits (0o644 and the like). */
  readonly mode: number;
  /** What stat(2) says: sysfs attributes 4096, /proc files 0. */
  readonly size: number;
}

export interface KernelFsEntry extends KernelFsStat {
  readonly name: string;
}

interface Node extends KernelFsStat {
  read?(): string;
  write?(data: string): void;
}

const DIR: Node = { kind: 'dir', mode: 0o755, size: 0 };

/** "-rw-r--r--" -> 0o644 */
function modeBits(ls: string): number {
  let mode = 0;
  for (const c of ls.slice(1)) mode = (mode << 1) | (c === '-' ? 0 : 1);
  return mode;
}

/** "/sys//kernel/" -> "/sys/kernel" */
export function normalizePath(path: string): string {
  const parts = path.split('/').filter((p) => p && p !== '.');
  if (parts.includes('..')) throw new KernelFsError('EINVAL', path, "'..' is not allowed");
  return '/' + parts.join('/');
}

/** A tree's makers: dir(p) adds p and its parents, file(p, n) a file and its parents. */
function builder(t: Map<string, Node>): { dir: (p: string) => void; file: (p: string, n: Omit<Node, 'kind'>) => void } {
  const dir = (p: string) => {
    for (let q = p; q && !t.has(q); q = q.slice(0, q.lastIndexOf('/'))) t.set(q, DIR);
    t.set('/', DIR);
  };
  const file = (p: string, n: Omit<Node, 'kind'>) => {
    dir(p.slice(0, p.lastIndexOf('/')));
    t.set(p, { kind: 'file', ...n });
  };
  return { dir, file };
}

export interface KernelFilesOptions {
  /**
   * A number that changes whenever the machine may have changed (a running lab's `generation`:
   * after every slice and request). While it stays the same, the tree of entries is built once
   * and reused: a shell's path walks stat /sys, /sys/kernel, ... a few thousand times per
   * selftest script, mostly between two slices. Without it, every request builds the tree.
   */
  generation?: () => number;
}

export class KernelFiles {
  private cached?: { generation: number; tree: Map<string, Node> };
  private fixedNodes?: Map<string, Node>;

  constructor(
    private readonly lab: Lab,
    private readonly opts: KernelFilesOptions = {},
  ) {}

  private get k(): Kernel {
    return this.lab.k;
  }

  stat(path: string): KernelFsStat {
    const { kind, mode, size } = this.node(path);
    return { kind, mode, size };
  }

  readdir(path: string): KernelFsEntry[] {
    const p = normalizePath(path);
    const tree = this.tree();
    const node = tree.get(p);
    if (!node) throw new KernelFsError('ENOENT', p, 'No such file or directory');
    if (node.kind !== 'dir') throw new KernelFsError('ENOTDIR', p, 'Not a directory');
    const prefix = p === '/' ? '/' : `${p}/`;
    const out: KernelFsEntry[] = [];
    for (const [q, n] of tree)
      if (q.startsWith(prefix) && q.length > prefix.length && !q.slice(prefix.length).includes('/'))
        out.push({ name: q.slice(prefix.length), kind: n.kind, mode: n.mode, size: n.size });
    return out;
  }

  /** open(2)'s checks: EISDIR for a directory opened to write, EACCES as kernfs gives it. */
  open(path: string, access: 'r' | 'w' | 'rw'): void {
    const n = this.node(path);
    const p = normalizePath(path);
    if (n.kind === 'dir') {
      if (access !== 'r') throw new KernelFsError('EISDIR', p, 'Is a directory');
      return;
    }
    if (access !== 'w' && !(n.mode & 0o444 && n.read)) throw new KernelFsError('EACCES', p, 'Permission denied');
    if (access !== 'r' && !(n.mode & 0o222 && n.write)) throw new KernelFsError('EACCES', p, 'Permission denied');
  }

  /** The whole content of a file, as its first read(2) produces it. */
  read(path: string): string {
    const n = this.node(path);
    const p = normalizePath(path);
    if (n.kind === 'dir') throw new KernelFsError('EISDIR', p, 'Is a directory');
    if (!n.read) throw new KernelFsError('EACCES', p, 'Permission denied');
    return refusal(p, () => n.read!());
  }

  /** One write(2) of `data` (what `echo` writes: the value and a newline). */
  write(path: string, data: string): void {
    const n = this.node(path);
    const p = normalizePath(path);
    if (n.kind === 'dir') throw new KernelFsError('EISDIR', p, 'Is a directory');
    if (!n.write) throw new KernelFsError('EACCES', p, 'Permission denied');
    refusal(p, () => n.write!(data));
  }

  private node(path: string): Node {
    const p = normalizePath(path);
    const n = this.tree().get(p);
    if (!n) throw new KernelFsError('ENOENT', p, 'No such file or directory');
    return n;
  }

  /** Every entry, built afresh when the machine may have changed (patches, modules and cpus come and go). */
  private tree(): Map<string, Node> {
    const generation = this.opts.generation?.();
    if (generation === undefined) return this.build();
    if (this.cached?.generation !== generation) this.cached = { generation, tree: this.build() };
    return this.cached.tree;
  }

  /** The entries that come and go (patches, modules, their objects), over the fixed ones. */
  private build(): Map<string, Node> {
    const t = new Map(this.fixedTree());
    const { dir, file } = builder(t);
    const attr = (value: () => string) => () => `${value()}\n`;
    const lab = this.lab;
    const k = this.k;

    // /sys/kernel/livepatch
    for (const e of lab.lp.sysfsTree()) {
      const p = e.replace(/\/$/, '');
      const mode = modeBits(sysfsMode(lab.lp, p));
      if (e.endsWith('/')) {
        dir(p);
        t.set(p, { kind: 'dir', mode, size: 0 });
      } else
        file(p, {
          mode,
          size: 4096,
          read: mode & 0o444 ? attr(() => lab.lp.sysfsRead(p)) : undefined,
          write: mode & 0o222 ? (v) => lab.lp.sysfsWrite(p, v) : undefined,
        });
    }

    // /sys/module
    for (const m of lab.modules.list()) this.moduleFiles(m, dir, file);

    // /sys/kernel/<kobject>: the modules' own attributes (read only: no store is modelled)
    for (const f of kobjectFiles(k))
      file(f.path, { mode: f.mode, size: 4096, read: f.mode & 0o444 ? () => lab.sysfsRead(f.path) : undefined });

    return t;
  }

  /**
   * The entries that stay as they are while the lab runs, built once: the top directories, the
   * cpus' files (the machine has its cpus from boot), dynamic debug, /proc and /dev/kmsg. Their
   * contents are read when asked; what never changes is that they exist, and their modes.
   */
  private fixedTree(): Map<string, Node> {
    if (this.fixedNodes) return this.fixedNodes;
    const t = new Map<string, Node>();
    const { dir, file } = builder(t);
    const lab = this.lab;
    const k = this.k;
    dir('/sys/kernel/livepatch');
    dir('/sys/module');

    // /sys/devices/system/cpu
    const cpus = [...Array(k.nrCpus).keys()];
    const range = (list: number[]) => `${rangeList(list)}\n`;
    file('/sys/devices/system/cpu/online', { mode: 0o444, size: 4096, read: () => range(cpus.filter((c) => cpuOnline(k, c))) });
    file('/sys/devices/system/cpu/possible', { mode: 0o444, size: 4096, read: () => range(cpus) });
    file('/sys/devices/system/cpu/present', { mode: 0o444, size: 4096, read: () => range(cpus) });
    for (const c of cpus) {
      dir(`/sys/devices/system/cpu/cpu${c}`);
      // the boot cpu cannot go offline, so it has no online file (as without CONFIG_BOOTPARAM_HOTPLUG_CPU0)
      if (c === 0) continue;
      file(`/sys/devices/system/cpu/cpu${c}/online`, {
        mode: 0o644,
        size: 4096,
        read: () => (cpuOnline(k, c) ? '1\n' : '0\n'),
        write: (v) => {
          const on = v.trim();
          if (on !== '0' && on !== '1') throw new KernelFsError('EINVAL', `/sys/devices/system/cpu/cpu${c}/online`, 'Invalid argument');
          // writing the state a cpu is already in changes nothing, as device_online() says
          if ((on === '1') === cpuOnline(k, c)) return;
          if (on === '1') cpuUp(k, c);
          else cpuDown(k, c);
        },
      });
    }

    // /sys/kernel/debug/dynamic_debug/control
    file('/sys/kernel/debug/dynamic_debug/control', {
      mode: 0o644,
      size: 0,
      read: () => lab.dynamicDebug.read(),
      write: (q) => void lab.dynamicDebug.write(q),
    });

    // /proc
    const show = (names: string[]) => {
      const fn = names.find((n) => k.image.elf.symbolsNamed(n).length);
      return fn ? () => lab.cat(fn) : undefined;
    };
    const cmdline = show(['cmdline_proc_show', 'lab_cmdline_show']);
    if (cmdline) file('/proc/cmdline', { mode: 0o444, size: 0, read: cmdline });
    const meminfo = show(['meminfo_proc_show', 'lab_meminfo_show']);
    if (meminfo) file('/proc/meminfo', { mode: 0o444, size: 0, read: meminfo });
    file('/proc/kallsyms', { mode: 0o444, size: 0, read: () => kallsyms(lab) });
    file('/proc/modules', { mode: 0o444, size: 0, read: () => procModules(lab) });
    for (const s of SYSCTLS)
      file(sysctlPath(s.key), { mode: 0o644, size: 0, read: () => s.read(lab), write: (data) => s.write(lab, data) });

    // /dev/kmsg: its reads and writes are records (kmsg.ts), not file contents
    file('/dev/kmsg', { mode: 0o644, size: 0, read: () => '', write: () => undefined });
    this.fixedNodes = t;
    return t;
  }

  /**
   * The fixed entries (fixedTree) as stat(2) gives them, with what open(2) allows: a FUSE helper
   * answers these itself, without asking the lab (a shell's path walks go through /sys,
   * /sys/kernel, /proc and /dev/kmsg thousands of times per selftest script).
   */
  fixed(): (KernelFsStat & { path: string; read: boolean; write: boolean })[] {
    return [...this.fixedTree()].map(([path, n]) => ({
      path,
      kind: n.kind,
      mode: n.mode,
      size: n.size,
      read: n.kind === 'dir' || !!(n.mode & 0o444 && n.read),
      write: n.kind === 'file' && !!(n.mode & 0o222 && n.write),
    }));
  }

  private moduleFiles(m: LoadedModule, dir: (p: string) => void, file: (p: string, n: Omit<Node, 'kind'>) => void): void {
    const base = `/sys/module/${m.name}`;
    const lab = this.lab;
    dir(base);
    file(`${base}/refcnt`, { mode: 0o444, size: 4096, read: () => `${m.refcount}\n` });
    const state = () => (m.state === 'LIVE' ? 'live' : m.state === 'COMING' ? 'coming' : 'going');
    file(`${base}/initstate`, { mode: 0o444, size: 4096, read: () => `${state()}\n` });
    // the modules using this one's exports (links in the kernel, directories here)
    dir(`${base}/holders`);
    for (const u of m.usedBy) dir(`${base}/holders/${u.name}`);
    const params = [...moduleParams(m.file, m.modinfo).values()].filter((p) => p.perm);
    if (params.length) dir(`${base}/parameters`);
    for (const p of params)
      file(`${base}/parameters/${p.name}`, {
        mode: p.perm & 0o777,
        size: 4096,
        read: p.perm & 0o444 ? () => `${lab.modules.param(m.name, p.name)}\n` : undefined,
        write: p.perm & 0o222 ? (v) => lab.modules.setParam(m.name, p.name, v.replace(/\n$/, '')) : undefined,
      });
  }
}

/** "0-3,5": the kernel's cpu list format. */
function rangeList(list: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < list.length;) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
    out.push(i === j ? `${list[i]}` : `${list[i]}-${list[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** The errno of a refusal from the layers below, as a KernelFsError; anything else is a bug and passes. */
function refusal<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === undefined) throw e;
    throw new KernelFsError(errno, path, (e as Error).message);
  }
}

function errnoOf(e: unknown): string | undefined {
  if (e instanceof KernelFsError) return e.errno;
  if (e instanceof LivepatchError) return errnoName(e.errno);
  if (e instanceof ModuleError || e instanceof CpuHotplugError) return isErrno(e.errno) ? e.errno : 'EIO';
  if (e instanceof DdebugQueryError) return 'EINVAL';
  if (e instanceof SysfsError) return e.errno;
  if (e instanceof SysctlError || e instanceof FtraceError) return e.errno;
  return undefined;
}

/** /proc/modules: "name size refcnt users state address (taints)", newest first. */
function procModules(lab: Lab): string {
  const state = { LIVE: 'Live', COMING: 'Loading', GOING: 'Unloading' } as const;
  return [...lab.modules.list()]
    .reverse()
    .map((m) => {
      const users = m.usedBy.size ? [...m.usedBy].map((u) => `${u.name},`).join('') : '-';
      const livepatch = m.modinfo.get('livepatch')?.includes('Y');
      return `${m.name} ${m.size} ${m.refcount} ${users} ${state[m.state]} 0x${m.base.toString(16)}${livepatch ? ' (K)' : ''}\n`;
    })
    .join('');
}

/**
 * /proc/kallsyms: "address type name", then " [module]" for a module's. Addresses are shown,
 * as to root with kptr_restrict 0.
 */
function kallsyms(lab: Lab): string {
  const lines: string[] = [];
  const add = (elf: ElfFile, place: (s: ElfSection) => bigint | undefined, module?: string) => {
    const syms: [bigint, string][] = [];
    for (const s of elf.symbols) {
      if (!s.section || !s.name || (s.type !== STT_FUNC && s.type !== STT_OBJECT)) continue;
      const base = place(s.section);
      if (base === undefined) continue;
      const sec = s.section;
      const letter = sec.flags & SHF_EXECINSTR ? 't' : sec.type === SHT_NOBITS ? 'b' : sec.flags & SHF_WRITE ? 'd' : 'r';
      const global = s.bind === STB_GLOBAL || s.bind === STB_WEAK;
      syms.push([base + s.value, `${global ? letter.toUpperCase() : letter} ${s.name}${module ? `\t[${module}]` : ''}`]);
    }
    syms.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [at, rest] of syms) lines.push(`${at.toString(16).padStart(16, '0')} ${rest}`);
  };
  add(lab.k.image.elf, () => 0n);
  for (const m of lab.modules.list()) add(m.elf, (s) => m.placement(s), m.name);
  return lines.join('\n') + '\n';
}
