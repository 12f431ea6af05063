// SPDX-License-Identifier: GPL-2.0-or-later
// klp-convert: turns a livepatch module's annotated references to symbols the module loader
// cannot (or must not) bind -- static or unexported functions and data of vmlinux or of a
// module -- into the livepatch ELF format the livepatch core resolves itself
// (Documentation/livepatch/module-elf-format.rst):
//
//   - the patch source lists such symbols with KLP_MODULE_RELOC(object) / KLP_SYMPOS(symbol,
//     sympos) (firmware/include/lab/livepatch.h): an array of { void *sym; u32 sympos } in a
//     section .klp.module_relocs.<object>, whose R_X86_64_64 relocations name the symbols;
//   - every relocation against one of them moves out of .rela<section> into
//     .klp.rela.<object><section> (SHT_RELA, SHF_ALLOC | SHF_RELA_LIVEPATCH);
//   - the symbol becomes .klp.sym.<object>.<name>,<sympos>, global, st_shndx SHN_LIVEPATCH;
//   - the annotation sections, and the symbols defined in them, are dropped.
//
// The names follow the kernel's parser (kernel/livepatch/core.c reads them with sscanf
// ".klp.rela.%55[^.]" and ".klp.sym.%55[^.].%511[^,],%lu"): an object name is 1-55 characters
// without '.', a symbol name at most 511 characters without ','. The result is written with
// the relocatable-object writer (writer.ts); a bad annotation is a KlpConvertError naming the
// file, the section and what is wrong, and nothing is written.

import {
  R_X86_64_64,
  SHF_ALLOC,
  SHF_RELA_LIVEPATCH,
  SHN_LIVEPATCH,
  SHN_UNDEF,
  SHT_GROUP,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_GLOBAL,
} from './constants.ts';
import { ElfError } from './errors.ts';
import { hex } from './format.ts';
import type { ElfFile } from './reader.ts';
import type { ElfSection } from './sections.ts';
import type { ElfSymbol } from './symbols.ts';
import { writeRelocatable, type ObjRelaSection, type ObjSection, type ObjSymbol, type RelocatableObject } from './writer.ts';

/** Prefix of the annotation sections KLP_MODULE_RELOC() emits. */
export const KLP_MODULE_RELOCS_PREFIX = '.klp.module_relocs.';
/** sizeof(struct klp_module_reloc): a pointer and a u32 sympos, packed. */
export const KLP_MODULE_RELOC_SIZE = 12;
/** MODULE_NAME_LEN - 1 and KSYM_NAME_LEN - 1: the field widths of the kernel's parser. */
export const KLP_OBJNAME_MAX = 55;
export const KLP_SYMNAME_MAX = 511;

/** A bad annotation or an object klp-convert cannot rewrite. */
export class KlpConvertError extends ElfError {
  constructor(
    file: string,
    readonly problem: string,
  ) {
    super(file, `klp-convert: ${problem}`);
  }
}

/** .klp.sym.<object>.<name>,<sympos> */
export function klpSymbolName(objname: string, name: string, sympos: number): string {
  return `.klp.sym.${objname}.${name},${sympos}`;
}

/** .klp.rela.<object><section> (the section's name keeps its leading dot: .klp.rela.vmlinux.text.f) */
export function klpRelaSectionName(objname: string, section: string): string {
  return `.klp.rela.${objname}${section}`;
}

/** What a KLP_SYMPOS() entry says about one symbol. */
export interface KlpAnnotation {
  readonly symbol: string;
  readonly objname: string;
  readonly sympos: number;
}

/** The object read into the writer's model, with the way back from the reader's records. */
interface ObjectModel {
  obj: RelocatableObject;
  section: Map<ElfSection, ObjSection | ObjRelaSection>;
  symbol: Map<ElfSymbol, ObjSymbol>;
}

function readModel(elf: ElfFile): ObjectModel {
  const file = elf.fileName;
  const section = new Map<ElfSection, ObjSection | ObjRelaSection>();
  const symbol = new Map<ElfSymbol, ObjSymbol>();
  const data = new Map<ElfSection, ObjSection>();
  for (const s of elf.sections) {
    if (s.type === SHT_GROUP || s.type === SHT_SYMTAB_SHNDX || s.type === SHT_REL)
      throw new KlpConvertError(file, `section [${s.index}] ${s.name}: type ${s.type} is not supported`);
    if (s.index === 0 || s.type === SHT_NULL || s.type === SHT_SYMTAB || s.type === SHT_STRTAB || s.type === SHT_RELA) continue;
    data.set(s, {
      kind: 'data',
      name: s.name,
      type: s.type,
      flags: s.flags,
      addralign: s.addralign,
      entsize: s.entsize,
      data: Uint8Array.from(s.data()),
      size: s.size,
    });
  }
  const ref = (index: number): ObjSection | number => {
    const s = elf.sections[index];
    return (s && data.get(s)) ?? index;
  };
  for (const [s, o] of data) {
    o.link = s.link ? ref(s.link) : undefined;
    o.info = s.info ? ref(s.info) : undefined;
  }
  for (const sym of elf.symbols) {
    if (sym.index === 0) continue;
    const owner = sym.section && data.get(sym.section);
    if (sym.section && !owner) throw new KlpConvertError(file, `symbol '${sym.name}' is defined in section ${sym.section.name}`);
    symbol.set(sym, {
      name: sym.name,
      value: sym.value,
      size: sym.size,
      type: sym.type,
      bind: sym.bind,
      visibility: sym.visibility,
      section: owner,
      shndx: owner ? undefined : sym.shndx,
    });
  }
  const relas = new Map<ElfSection, ObjRelaSection>();
  for (const rs of elf.relocations()) {
    const target = data.get(rs.target);
    if (!target) throw new KlpConvertError(file, `section [${rs.section.index}] ${rs.section.name} applies to ${rs.target.name}`);
    relas.set(rs.section, {
      kind: 'rela',
      name: rs.section.name,
      flags: rs.section.flags,
      target,
      entries: rs.entries.map((r) => ({ offset: r.offset, type: r.type, addend: r.addend, symbol: symbol.get(r.symbol)! })),
    });
  }
  const order: Array<ObjSection | ObjRelaSection> = [];
  for (const s of elf.sections) {
    const o = data.get(s) ?? relas.get(s);
    if (!o) continue;
    section.set(s, o);
    order.push(o);
  }
  return { obj: { sections: order, symbols: [...symbol.values()] }, section, symbol };
}

/** Reads the KLP_MODULE_RELOC() arrays: which undefined symbol belongs to which object, at which sympos. */
export function readKlpAnnotations(elf: ElfFile): KlpAnnotation[] {
  const file = elf.fileName;
  const out = new Map<string, KlpAnnotation>();
  for (const s of elf.sections) {
    if (!s.name.startsWith(KLP_MODULE_RELOCS_PREFIX) || s.type === SHT_RELA) continue;
    const where = `section [${s.index}] ${s.name}`;
    const objname = s.name.slice(KLP_MODULE_RELOCS_PREFIX.length);
    if (!objname || objname.length > KLP_OBJNAME_MAX || objname.includes('.'))
      throw new KlpConvertError(file, `${where}: object name '${objname}' must be 1-${KLP_OBJNAME_MAX} characters without '.'`);
    if (s.size % KLP_MODULE_RELOC_SIZE)
      throw new KlpConvertError(file, `${where}: ${s.size} bytes, not a multiple of ${KLP_MODULE_RELOC_SIZE} (struct klp_module_reloc)`);
    const entries = s.size / KLP_MODULE_RELOC_SIZE;
    const relocs = elf.relocations().filter((rs) => rs.target === s);
    const bytes = s.data();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const seen = new Set<number>();
    for (const rs of relocs)
      for (const r of rs.entries) {
        const at = Number(r.offset);
        if (r.type !== R_X86_64_64 || at % KLP_MODULE_RELOC_SIZE || r.addend !== 0n || seen.has(at))
          throw new KlpConvertError(
            file,
            `${where}+${hex(r.offset)}: expected one R_X86_64_64 against a symbol with addend 0 at the start of each entry`,
          );
        seen.add(at);
        const sym = r.symbol;
        if (sym.shndx !== SHN_UNDEF)
          throw new KlpConvertError(
            file,
            `${where}+${hex(r.offset)}: '${sym.name || sym.section?.name}' is defined in this object; only undefined symbols can be resolved by livepatch`,
          );
        if (sym.name.length > KLP_SYMNAME_MAX || sym.name.includes(','))
          throw new KlpConvertError(file, `${where}: symbol name '${sym.name}' must be at most ${KLP_SYMNAME_MAX} characters without ','`);
        const sympos = view.getUint32(at + 8, true);
        const prev = out.get(sym.name);
        if (prev && (prev.objname !== objname || prev.sympos !== sympos))
          throw new KlpConvertError(
            file,
            `symbol '${sym.name}' is annotated twice: object ${prev.objname} sympos ${prev.sympos}, and object ${objname} sympos ${sympos}`,
          );
        out.set(sym.name, { symbol: sym.name, objname, sympos });
      }
    if (seen.size !== entries) throw new KlpConvertError(file, `${where}: ${entries - seen.size} of ${entries} entries name no symbol`);
  }
  return [...out.values()];
}

/** What klpConvert did, for the tool's report. */
export interface KlpConvertResult {
  readonly bytes: Uint8Array;
  readonly annotations: readonly KlpAnnotation[];
  /** Names of the .klp.rela sections written, with their number of relocations. */
  readonly sections: ReadonlyArray<{ readonly name: string; readonly relocations: number }>;
}

/** Rewrites a patch module's object as described at the top of this file. */
export function klpConvert(elf: ElfFile): KlpConvertResult {
  const file = elf.fileName;
  const annotations = readKlpAnnotations(elf);
  const byName = new Map(annotations.map((a) => [a.symbol, a]));
  const model = readModel(elf);
  const dropped = new Set<ObjSection | ObjRelaSection>();
  for (const [s, o] of model.section) if (s.name.startsWith(KLP_MODULE_RELOCS_PREFIX)) dropped.add(o);
  for (const o of model.obj.sections) if (o.kind === 'rela' && dropped.has(o.target)) dropped.add(o);

  // the annotated symbols: renamed and handed to the livepatch core
  const klpSymbols = new Map<ObjSymbol, KlpAnnotation>();
  for (const [sym, o] of model.symbol) {
    const a = sym.shndx === SHN_UNDEF && sym.index !== 0 ? byName.get(sym.name) : undefined;
    if (!a) continue;
    klpSymbols.set(o, a);
    o.name = klpSymbolName(a.objname, a.symbol, a.sympos);
    o.bind = STB_GLOBAL;
    o.shndx = SHN_LIVEPATCH;
  }
  const symbols = model.obj.symbols.filter((s) => !(s.section && dropped.has(s.section)));
  const kept = new Set(symbols);

  // their relocations: out of .rela<section>, into .klp.rela.<object><section>
  const sections: Array<ObjSection | ObjRelaSection> = [];
  const written: Array<{ name: string; relocations: number }> = [];
  for (const o of model.obj.sections) {
    if (dropped.has(o)) continue;
    if (o.kind !== 'rela') {
      sections.push(o);
      continue;
    }
    const moved = new Map<string, ObjRelaSection>();
    const stay = [];
    for (const r of o.entries) {
      if (!kept.has(r.symbol))
        throw new KlpConvertError(
          file,
          `${o.name}: relocation at ${hex(r.offset)} against '${r.symbol.name}', defined in a KLP_MODULE_RELOC array`,
        );
      const a = klpSymbols.get(r.symbol);
      if (!a) {
        stay.push(r);
        continue;
      }
      if (!(o.target.flags & SHF_ALLOC))
        throw new KlpConvertError(
          file,
          `${o.name}: relocation against '${a.symbol}' in ${o.target.name}, which is not loaded (not SHF_ALLOC)`,
        );
      let klp = moved.get(a.objname);
      if (!klp) {
        klp = {
          kind: 'rela',
          name: klpRelaSectionName(a.objname, o.target.name),
          flags: SHF_ALLOC | SHF_RELA_LIVEPATCH,
          target: o.target,
          entries: [],
        };
        moved.set(a.objname, klp);
      }
      klp.entries.push(r);
    }
    if (stay.length) sections.push({ ...o, entries: stay });
    for (const klp of moved.values()) {
      sections.push(klp);
      written.push({ name: klp.name, relocations: klp.entries.length });
    }
  }
  const bytes = writeRelocatable({ sections, symbols });
  return { bytes, annotations, sections: written };
}
