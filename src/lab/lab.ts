// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Where a lab is put together. Every part of a booted lab is built and connected here, in
 * the order the kernel's own boot and load_module() imply, so that no lower layer reaches up:
 * the kernel does not know the ORC unwinder (its oops and WARN reports are handed one), the
 * module loader does not know ORC, ftrace or livepatch (they subscribe to it), and nothing
 * below src/lab/ wires anything to anything else.
 *
 *   bootLab(opts)                boot, let the workload settle, assembleLab()
 *   assembleLab(kernel, opts)    unwinder, module registry, ftrace, livepatch, dynamic debug
 *   withUnwinder(kernel)         only the unwinder, for a bare kernel (CLI boot, stack)
 *   assembleModules(kernel, u)   a module registry the unwinder follows
 */
import { bootKernel, type BootOptions, type Kernel, Modules, guestDescriptors } from '../kernel/index.ts';
import { orcUnwinder, type OrcUnwinder, unwindModules } from '../orc/index.ts';
import { Ftrace, ftraceModuleInit, ftraceReleaseMod, moduleFtraceSites } from '../ftrace/index.ts';
import { Livepatch, type LivepatchOptions, type ModuleInfo } from '../livepatch/index.ts';

/** The parts of one booted lab. */
export interface LabParts {
  readonly kernel: Kernel;
  readonly unwinder: OrcUnwinder;
  readonly modules: Modules;
  readonly ftrace: Ftrace;
  readonly livepatch: Livepatch;
}

/** The kernel's unwinder, handed to the kernel so that its oops and WARN reports carry call traces. */
export function withUnwinder(k: Kernel): OrcUnwinder {
  return orcUnwinder(k);
}

/** A module registry whose modules' ORC the unwinder learns as they come and go. */
export function assembleModules(k: Kernel, unwinder: OrcUnwinder): Modules {
  const modules = new Modules(k);
  unwindModules(unwinder, modules);
  return modules;
}

/** Every part of a lab on a booted kernel, connected. */
export function assembleLab(k: Kernel, opts: LivepatchOptions = {}): LabParts {
  const unwinder = withUnwinder(k);
  const modules = assembleModules(k, unwinder);
  const ftrace = new Ftrace(k, unwinder);
  const livepatch = new Livepatch(k, moduleInfo(modules), ftrace, unwinder, opts);
  // the kernel's order: ftrace knows a module's sites before livepatch patches it, and
  // livepatch reverts it before ftrace forgets them (which it does for every module that goes)
  modules.setFtrace({
    init: (m) =>
      ftraceModuleInit(
        ftrace,
        m.name,
        moduleFtraceSites(m.name, m.elf, (s) => m.placement(s)),
      ),
    release: (m) => ftraceReleaseMod(ftrace, m.name),
  });
  modules.onComing((m) => livepatch.moduleComing(m.name));
  modules.onGoing((m) => livepatch.moduleGoing(m.name));
  // a module's pr_debug descriptors join the control table before its init runs
  modules.onComing((m) => {
    const sec = m.elf.sections.find((s) => s.name === '__dyndbg');
    const at = m.sectionAddress('__dyndbg');
    if (sec && at !== undefined) k.dynamicDebug.addTable(m.name, guestDescriptors(k, at, Number(sec.size)));
  }, 200);
  modules.onGoing((m) => k.dynamicDebug.removeTable(m.name), -200);
  return { kernel: k, unwinder, modules, ftrace, livepatch };
}

/** Boots the image (4 idle cpus unless told otherwise), runs it 100 ms, and assembles the lab. */
export async function bootLab(opts: BootOptions & LivepatchOptions = {}): Promise<LabParts> {
  const k = await bootKernel({ cpus: 4, workload: 'idle', ...opts });
  k.runFor(100);
  return assembleLab(k, opts);
}

/** What the livepatch core asks of the module registry, which it does not import. */
function moduleInfo(modules: Modules): ModuleInfo {
  return {
    nameAt: (a) => modules.moduleAt(a)?.name,
    isLivepatchModule: (n) => modules.find(n)?.modinfo.get('livepatch')?.includes('Y') ?? false,
    isLoaded: (n) => modules.isLoaded(n),
    structModule: (n) => modules.find(n)?.guestStruct?.address,
    findSymbol: (m, n, pos) => modules.findSymbol(m, n, pos),
    sizeAt: (a) => modules.sizeAt(a) ?? modules.kernel.image.symbolAt(a)?.size,
    get: (n) => modules.get(n),
    put: (n) => modules.put(n),
    klpModule: (n) => {
      const m = modules.find(n);
      return m && { name: m.name, relocations: m.layout.deferredRelocations, placement: (s) => m.placement(s) };
    },
  };
}
