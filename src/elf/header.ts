// SPDX-License-Identifier: GPL-2.0-or-later
// The ELF64 file header (Elf64_Ehdr): identification checks that reject
// anything but little-endian x86-64 ELF64, and the table locations with the
// gABI's extended numbering resolved (objects with >= 0xff00 sections, which
// -ffunction-sections kernels do produce, keep the real counts in section 0).

import {
  EI_CLASS,
  EI_DATA,
  EI_NIDENT,
  ELF64_EHDR_SIZE,
  ELF64_PHDR_SIZE,
  ELF64_SHDR_SIZE,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFMAG,
  EM_X86_64,
  PN_XNUM,
  SHN_XINDEX,
  machineName,
} from './constants.ts';
import type { ElfImage } from './image.ts';

export interface ElfHeader {
  readonly type: number;
  readonly entry: bigint;
  readonly phoff: number;
  readonly phnum: number;
  readonly shoff: number;
  readonly shnum: number;
  /** Index of the section name string table, 0 if there is none. */
  readonly shstrndx: number;
}

export function readHeader(image: ElfImage): ElfHeader {
  const { bytes } = image;
  // Compare what is there first: a short file that is not ELF at all should
  // say "bad magic", not "truncated".
  const magic = bytes.subarray(0, ELFMAG.length);
  if (magic.some((byte, i) => byte !== ELFMAG[i])) {
    image.fail(`bad magic ${[...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ')} (not an ELF file)`);
  }
  image.checkRange('e_ident', 0, EI_NIDENT);
  const elfClass = image.u8(EI_CLASS);
  if (elfClass !== ELFCLASS64) image.fail(`not ELF64 (EI_CLASS ${elfClass})`);
  const elfData = image.u8(EI_DATA);
  if (elfData !== ELFDATA2LSB) image.fail(`not little-endian (EI_DATA ${elfData})`);
  image.checkRange('ELF header', 0, ELF64_EHDR_SIZE);
  const machine = image.u16(18);
  if (machine !== EM_X86_64) {
    const name = machineName(machine);
    image.fail(`not an x86-64 ELF (e_machine ${machine}${name ? `, ${name}` : ''})`);
  }

  const type = image.u16(16);
  const entry = image.u64(24);
  const phoff = image.u64Number(32, 'e_phoff');
  const shoff = image.u64Number(40, 'e_shoff');
  const phentsize = image.u16(54);
  let phnum = image.u16(56);
  const shentsize = image.u16(58);
  let shnum = image.u16(60);
  let shstrndx = image.u16(62);

  if (shoff === 0) {
    if (shnum !== 0) image.fail(`e_shnum ${shnum} but no section header table (e_shoff 0)`);
  } else {
    if (shentsize !== ELF64_SHDR_SIZE) image.fail(`e_shentsize ${shentsize}, expected ${ELF64_SHDR_SIZE}`);
    if (shnum === 0 || shstrndx === SHN_XINDEX || phnum === PN_XNUM) {
      image.checkRange('section header 0', shoff, ELF64_SHDR_SIZE);
      if (shnum === 0) shnum = image.u64Number(shoff + 32, 'section count (sh_size of section 0)');
      if (shstrndx === SHN_XINDEX) shstrndx = image.u32(shoff + 40);
      if (phnum === PN_XNUM) phnum = image.u32(shoff + 44);
    }
    image.checkRange('section header table', shoff, shnum * ELF64_SHDR_SIZE);
  }
  if (phnum !== 0) {
    if (phentsize !== ELF64_PHDR_SIZE) image.fail(`e_phentsize ${phentsize}, expected ${ELF64_PHDR_SIZE}`);
    image.checkRange('program header table', phoff, phnum * ELF64_PHDR_SIZE);
  }
  if (shstrndx !== 0 && shstrndx >= shnum) image.fail(`e_shstrndx ${shstrndx} out of range (${shnum} sections)`);

  return { type, entry, phoff, phnum, shoff, shnum, shstrndx };
}
