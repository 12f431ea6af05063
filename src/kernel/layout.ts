// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The firmware's struct layouts and constants, read from the image's .lab.layout section that
 * the build generates from kernel/asm-offsets.c (the idea of the kernel's asm-offsets and of
 * VMCOREINFO). Nothing about the guest's data structures is hand-copied into the host.
 */
import type { ElfFile } from '../elf/index.ts';

export class LayoutError extends Error {
  constructor(
    readonly file: string,
    readonly item: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'LayoutError';
  }
}

export class Layout {
  private constructor(
    readonly file: string,
    private readonly values: ReadonlyMap<string, number>,
  ) {}

  static fromText(text: string, file: string): Layout {
    const values = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      const eq = line.lastIndexOf('=');
      const v = Number(line.slice(eq + 1));
      if (eq <= 0 || !Number.isSafeInteger(v)) throw new LayoutError(file, line, `bad layout line '${line}'`);
      values.set(line.slice(0, eq), v);
    }
    return new Layout(file, values);
  }

  static fromElf(elf: ElfFile): Layout {
    const sec = elf.section('.lab.layout');
    if (!sec) throw new LayoutError(elf.fileName, '.lab.layout', 'no .lab.layout section: not a lab kernel image (see firmware/Makefile)');
    return Layout.fromText(Buffer.from(sec.data()).toString('latin1'), elf.fileName);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  value(name: string): number {
    const v = this.values.get(name);
    if (v === undefined) throw new LayoutError(this.file, name, `layout has no '${name}' (rebuild the firmware?)`);
    return v;
  }

  /** offsetof(struct, member), member may be dotted ("thread.sp"). */
  offset(struct: string, member: string): number {
    return this.value(`${struct}.${member}`);
  }

  sizeof(struct: string): number {
    return this.value(`sizeof.${struct}`);
  }

  constant(name: string): number {
    return this.value(`const.${name}`);
  }

  /** All constants whose name starts with prefix, e.g. 'WORKLOAD_'. */
  constants(prefix: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.values) if (k.startsWith(`const.${prefix}`)) out.set(k.slice(6), v);
    return out;
  }
}
