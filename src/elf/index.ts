// SPDX-License-Identifier: GPL-2.0-or-later
// Public API of the ELF64 reader.

export * from './constants.ts';
export { AmbiguousSymbolError, ElfError, ElfFormatError, SymbolNotFoundError } from './errors.ts';
export { ElfFile } from './reader.ts';
export type { ElfRelocation, ElfRelocationSection } from './relocations.ts';
export type { ElfSection } from './sections.ts';
export type { ElfSegment } from './segments.ts';
export type { ElfSymbol } from './symbols.ts';
export * from './errno.ts';
export { ModuleError } from './module-errors.ts';
export {
  applyRelocation,
  layoutModule,
  ModuleFormatError,
  modinfoEntries,
  type ModuleLayout,
  moduleName,
  type ModulePlan,
  type ModuleRegionKind,
  type PlacedRegion,
  planModule,
  readModinfo,
  RelocationOverflowError,
  type SymbolCandidate,
  UnsupportedRelocationError,
} from './module.ts';
export { KlpConvertError, klpConvert, klpRelaSectionName, klpSymbolName, readKlpAnnotations, type KlpAnnotation } from './klp-convert.ts';
export {
  writeRelocatable,
  writeSectionHeader,
  type SectionHeader,
  type ObjRelaSection,
  type ObjSection,
  type ObjSymbol,
  type RelocatableObject,
} from './writer.ts';
