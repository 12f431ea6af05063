// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The unwinder learns of module code by subscribing to the module loader (the kernel's
 * unwind_module_init() is called by load_module(); here the loader knows nothing of ORC, so
 * the unwinder hooks itself in). A module's .orc_unwind_ip/.orc_unwind are read during the
 * load's host-side half: a malformed table refuses the load as a ModuleFormatError before any
 * guest byte changes.
 */
import { ModuleFormatError, type ModuleLayout } from '../elf/index.ts';
import type { Modules } from '../kernel/index.ts';
import { OrcTable, OrcTableError } from './table.ts';
import type { OrcUnwinder } from './unwind.ts';

/** The module's ORC table over its text region; undefined for a module without text. */
export function moduleOrc(layout: ModuleLayout): OrcTable | undefined {
  const t = layout.regions.text;
  if (!t.size) return undefined;
  try {
    return OrcTable.fromObject(layout.elf, layout.placement, {
      name: layout.name,
      start: t.address,
      end: t.address + BigInt(t.size),
    });
  } catch (e) {
    if (e instanceof OrcTableError) throw new ModuleFormatError(layout.file, e.message.replace(`${e.file}: `, ''), {}, { cause: e });
    throw e;
  }
}

/** Keeps `unwinder` told of every module's ORC as modules come and go; returns the unsubscription. */
export function unwindModules(unwinder: OrcUnwinder, modules: Modules): () => void {
  return modules.addCodeHook({
    prepare: moduleOrc,
    add: (mod, orc) => {
      if (orc) unwinder.addModule(mod.name, orc);
    },
    remove: (mod) => unwinder.removeModule(mod.name),
  });
}
