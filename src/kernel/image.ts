// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A kernel image file: the ELF, its layout, its symbols by name, and where its code is. Parsing
 * and disassembling an image is done once per file content and shared by every machine booted
 * from it.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ElfFile, type ElfSymbol, ET_EXEC, PT_LOAD, SHF_EXECINSTR, ElfFormatError } from '../elf/index.ts';
import { Layout } from './layout.ts';
import { disassemble, loadDisassembler, mayEnableInterrupts } from '../emu/index.ts';

export interface CodeRange {
  name: string;
  address: bigint;
  bytes: Uint8Array;
}

export class KernelImage {
  readonly layout: Layout;
  /** Kernel text, [_stext, _etext): the range a reliable unwinder accepts return addresses in. */
  readonly textStart: bigint;
  readonly textEnd: bigint;
  private decoded?: { starts: bigint[]; irqEnableEnds: bigint[] };

  private constructor(
    readonly path: string,
    readonly elf: ElfFile,
    /** Of the file's bytes: the cache key, with the path. */
    readonly sha256: string,
  ) {
    if (elf.type !== ET_EXEC) throw new ElfFormatError(path, `not a linked kernel image (e_type ${elf.type}, want ET_EXEC)`);
    this.layout = Layout.fromElf(elf);
    this.textStart = this.symbol('_stext');
    this.textEnd = this.symbol('_etext');
  }

  private static cache = new Map<string, KernelImage>();

  /** Reads and checks an image; the same content is parsed only once per process. */
  static load(path: string): KernelImage {
    const bytes = readFileSync(path);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const key = `${path}\0${sha}`;
    let img = KernelImage.cache.get(key);
    if (!img) {
      img = new KernelImage(path, ElfFile.parse(bytes, path), sha);
      KernelImage.cache.set(key, img);
    }
    return img;
  }

  /** Address of a symbol (kallsyms-style sympos for duplicated local names). */
  symbol(name: string, sympos?: number): bigint {
    return this.elf.findSymbol(name, sympos).value;
  }

  symbolAt(address: bigint): ElfSymbol | undefined {
    return this.elf.symbolAt(address);
  }

  /** Allocated, executable sections: kernel text and user-mode program text. */
  codeRanges(): CodeRange[] {
    return this.elf.sections
      .filter((s) => (s.flags & BigInt(SHF_EXECINSTR)) !== 0n && s.size > 0)
      .map((s) => ({ name: s.name, address: s.addr, bytes: s.data() }));
  }

  loadSegments() {
    return this.elf.segments.filter((s) => s.type === PT_LOAD);
  }

  /** Every instruction start in the image's code (linear sweep, computed once). */
  async instructions(): Promise<bigint[]> {
    return (await this.decode()).starts;
  }

  /** Where the image's sti, popf and iret instructions end: the machine's interrupt windows. */
  async irqEnableEnds(): Promise<bigint[]> {
    return (await this.decode()).irqEnableEnds;
  }

  private async decode(): Promise<{ starts: bigint[]; irqEnableEnds: bigint[] }> {
    if (!this.decoded) {
      await loadDisassembler();
      const starts: bigint[] = [];
      const irqEnableEnds: bigint[] = [];
      for (const r of this.codeRanges()) {
        let at = 0;
        while (at < r.bytes.length) {
          const insns = disassemble(r.bytes.subarray(at), r.address + BigInt(at));
          if (!insns.length) {
            at++; // undecodable byte (padding or data): skip it and resume
            continue;
          }
          for (const i of insns) {
            starts.push(i.address);
            if (mayEnableInterrupts(i)) irqEnableEnds.push(i.address + BigInt(i.size));
          }
          const last = insns[insns.length - 1];
          at = Number(last.address - r.address) + last.size;
        }
      }
      this.decoded = { starts, irqEnableEnds };
    }
    return this.decoded;
  }
}
