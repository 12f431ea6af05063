// SPDX-License-Identifier: GPL-2.0-or-later
// Program headers (Elf64_Phdr): how a linked image is laid out in memory,
// which is what the emulator maps.

import { ELF64_PHDR_SIZE } from './constants.ts';
import type { ElfHeader } from './header.ts';
import type { ElfImage } from './image.ts';

export class ElfSegment {
  readonly #bytes: Uint8Array;

  constructor(
    bytes: Uint8Array,
    readonly index: number,
    readonly type: number,
    readonly flags: number,
    readonly offset: number,
    readonly vaddr: bigint,
    readonly paddr: bigint,
    readonly filesz: number,
    readonly memsz: number,
    readonly align: number,
  ) {
    this.#bytes = bytes;
  }

  /** A view of the p_filesz bytes in the file; the rest up to p_memsz is zero-filled in memory. */
  data(): Uint8Array {
    return this.#bytes.subarray(this.offset, this.offset + this.filesz);
  }
}

export function readSegments(image: ElfImage, header: ElfHeader): ElfSegment[] {
  const segments: ElfSegment[] = [];
  for (let index = 0; index < header.phnum; index++) {
    const at = header.phoff + index * ELF64_PHDR_SIZE;
    const offset = image.u64Number(at + 8, 'p_offset');
    const filesz = image.u64Number(at + 32, 'p_filesz');
    image.checkRange(`segment [${index}]`, offset, filesz);
    segments.push(
      new ElfSegment(
        image.bytes,
        index,
        image.u32(at),
        image.u32(at + 4),
        offset,
        image.u64(at + 16),
        image.u64(at + 24),
        filesz,
        image.u64Number(at + 40, 'p_memsz'),
        image.u64Number(at + 48, 'p_align'),
      ),
    );
  }
  return segments;
}
