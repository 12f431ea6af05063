// SPDX-License-Identifier: GPL-2.0-or-later
// ELF64 and x86-64 psABI constants used by the reader, named as in the
// System V gABI and <elf.h> so they can be grepped against the spec.

/** ELF identification (e_ident). */
export const EI_NIDENT = 16;
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const ELFMAG = [0x7f, 0x45, 0x4c, 0x46] as const; // "\x7fELF"
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;

/** Structure sizes of the ELF64 on-disk records. */
export const ELF64_EHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
export const ELF64_SHDR_SIZE = 64;
export const ELF64_SYM_SIZE = 24;
export const ELF64_RELA_SIZE = 24;

/**
 * The kernel's bound on a symbol name, its NUL included (include/linux/kallsyms.h): kallsyms
 * and livepatch cannot name a longer symbol, so the reader refuses one.
 */
export const KSYM_NAME_LEN = 512;

/** Object file types (e_type). */
export const ET_REL = 1;
export const ET_EXEC = 2;

/** Machines (e_machine). Only x86-64 is accepted; the rest name the culprit in errors. */
export const EM_386 = 3;
export const EM_PPC64 = 21;
export const EM_S390 = 22;
export const EM_ARM = 40;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_RISCV = 243;

const MACHINE_NAMES: ReadonlyMap<number, string> = new Map([
  [EM_386, 'EM_386'],
  [EM_PPC64, 'EM_PPC64'],
  [EM_S390, 'EM_S390'],
  [EM_ARM, 'EM_ARM'],
  [EM_X86_64, 'EM_X86_64'],
  [EM_AARCH64, 'EM_AARCH64'],
  [EM_RISCV, 'EM_RISCV'],
]);

/** The EM_* name of a machine, or undefined for machines we do not list. */
export function machineName(machine: number): string | undefined {
  return MACHINE_NAMES.get(machine);
}

/** Section types (sh_type). */
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_GROUP = 17;
export const SHT_DYNSYM = 11;
export const SHT_SYMTAB_SHNDX = 18;

/** Section flags (sh_flags). */
export const SHF_WRITE = 0x1n;
export const SHF_ALLOC = 0x2n;
export const SHF_EXECINSTR = 0x4n;
export const SHF_INFO_LINK = 0x40n;
/** A relocation section the livepatch core applies, not the module loader (OS-specific flag). */
export const SHF_RELA_LIVEPATCH = 0x00100000n;

/** Special section indices. */
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
/** A symbol the livepatch core resolves (.klp.sym.<object>.<name>,<sympos>): OS-specific range. */
export const SHN_LIVEPATCH = 0xff20;
/** The real index is in SHT_SYMTAB_SHNDX (symbols) or section header 0 (e_shstrndx). */
export const SHN_XINDEX = 0xffff;

/** e_phnum value meaning "the real count is in sh_info of section header 0". */
export const PN_XNUM = 0xffff;

/** Symbol binding (ELF64_ST_BIND). */
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;

/** Symbol types (ELF64_ST_TYPE). */
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;

/** Symbol visibility (ELF64_ST_VISIBILITY). */
export const STV_DEFAULT = 0;
export const STV_INTERNAL = 1;
export const STV_HIDDEN = 2;
export const STV_PROTECTED = 3;

/** Segment types (p_type). */
export const PT_LOAD = 1;

/** Segment flags (p_flags). */
export const PF_X = 0x1;
export const PF_W = 0x2;
export const PF_R = 0x4;

/** x86-64 relocation types (psABI table "Relocation Types"). */
export const R_X86_64_NONE = 0;
export const R_X86_64_64 = 1;
export const R_X86_64_PC32 = 2;
export const R_X86_64_PLT32 = 4;
export const R_X86_64_32 = 10;
export const R_X86_64_32S = 11;
export const R_X86_64_PC64 = 24;

const RELOCATION_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [R_X86_64_NONE, 'R_X86_64_NONE'],
  [R_X86_64_64, 'R_X86_64_64'],
  [R_X86_64_PC32, 'R_X86_64_PC32'],
  [R_X86_64_PLT32, 'R_X86_64_PLT32'],
  [R_X86_64_32, 'R_X86_64_32'],
  [R_X86_64_32S, 'R_X86_64_32S'],
  [R_X86_64_PC64, 'R_X86_64_PC64'],
]);

/**
 * The psABI name of an x86-64 relocation type, e.g. "R_X86_64_PLT32".
 * Types we do not list still get a stable, greppable name instead of a throw,
 * because a reader must be able to print every relocation it meets.
 */
export function relocationTypeName(type: number): string {
  return RELOCATION_TYPE_NAMES.get(type) ?? `R_X86_64_<unknown ${type}>`;
}
