// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module's own struct module, __this_module in section .gnu.linkonce.this_module, which the
 * build's NAME.mod.c defines as modpost writes it for Linux: the module's name and its init
 * and exit functions, filled in by the compiler and the relocations. The loader places it with
 * the rest of the module and uses it as the module's struct module: the guest's copy is the
 * truth for name and state (klp_object->mod and THIS_MODULE point at it).
 *
 * A .ko without the section is refused, as the kernel refuses it ("No module found in
 * object"). A bare relocatable object (NAME.o, such as tests assemble) may still be loaded:
 * the host then keeps a struct module for it in host-managed memory.
 */
import { basename } from 'node:path';
import { type ElfFile, type ElfSection, type ModuleLayout, ModuleFormatError, SHF_ALLOC, SHT_NOBITS } from '../elf/index.ts';
import type { Layout } from './layout.ts';

export const THIS_MODULE_SECTION = '.gnu.linkonce.this_module';

export interface ThisModule {
  readonly section: ElfSection;
  /** struct module's name, as the build wrote it (KBUILD_MODNAME). */
  readonly name: string;
}

/** The object's __this_module, checked against the image's struct module; undefined for a bare .o. */
export function findThisModule(elf: ElfFile, L: Layout): ThisModule | undefined {
  const file = elf.fileName;
  const found = elf.sectionsByName(THIS_MODULE_SECTION);
  if (!found.length) {
    if (file.endsWith('.ko'))
      throw new ModuleFormatError(
        file,
        `No module found in object: no ${THIS_MODULE_SECTION} section (the struct module NAME.mod.c defines; ` +
          `build ${basename(file)} with make -C firmware M=DIR)`,
      );
    return undefined;
  }
  if (found.length > 1) throw new ModuleFormatError(file, `${found.length} ${THIS_MODULE_SECTION} sections`);
  const section = found[0];
  if (!(section.flags & SHF_ALLOC) || section.type === SHT_NOBITS)
    throw new ModuleFormatError(file, `${THIS_MODULE_SECTION} is not an allocated section with contents`, { section });
  const size = L.sizeof('module');
  if (section.size !== size)
    throw new ModuleFormatError(
      file,
      `${THIS_MODULE_SECTION} is ${section.size} bytes, the image's struct module ${size}: built against other headers`,
      { section },
    );
  const bytes = section.data();
  const at = L.offset('module', 'name');
  const field = bytes.subarray(at, at + L.constant('MODULE_NAME_LEN'));
  const end = field.indexOf(0);
  const name = Buffer.from(field.subarray(0, end < 0 ? 0 : end)).toString('latin1');
  if (end <= 0 || !/^[A-Za-z0-9_-]+$/.test(name))
    throw new ModuleFormatError(file, `struct module's name '${name}' is not a module name (KBUILD_MODNAME)`, {
      section,
      offset: BigInt(at),
    });
  return { section, name };
}

/** init and exit of a placed __this_module, from its relocated bytes (0: none); each must be module text. */
export function thisModuleEntries(layout: ModuleLayout, tm: ThisModule, L: Layout): { init?: bigint; exit?: bigint } {
  const placed = layout.sections.find((s) => s.section === tm.section)!;
  const view = new DataView(placed.bytes.buffer, placed.bytes.byteOffset, placed.bytes.byteLength);
  const text = layout.regions.text;
  const entry = (member: 'init' | 'exit'): bigint | undefined => {
    const at = L.offset('module', member);
    const v = view.getBigUint64(at, true);
    if (v === 0n) return undefined;
    if (v < text.address || v >= text.address + BigInt(text.size))
      throw new ModuleFormatError(layout.file, `struct module's ${member} points to 0x${v.toString(16)}, outside the module's text`, {
        section: tm.section,
        offset: BigInt(at),
      });
    return v;
  };
  return { init: entry('init'), exit: entry('exit') };
}
