// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Livepatch relocations (kernel/livepatch/core.c: klp_write_section_relocs, klp_resolve_symbols,
 * klp_write_object_relocs; arch/x86/kernel/module.c: apply_relocate_add, clear_relocate_add).
 *
 * A patch module may refer to what the module loader cannot bind: static or unexported symbols,
 * of vmlinux or of a module that is not loaded yet. Such references live in sections
 * .klp.rela.<object>.<section> (SHF_RELA_LIVEPATCH), against symbols
 * .klp.sym.<object>.<name>,<sympos> (SHN_LIVEPATCH), which the loader leaves alone. The core
 * resolves and writes them when their object is there: vmlinux's when the patch is enabled, a
 * module's at enable if it is loaded, else when it comes, and again on every reload. When the
 * module goes they are cleared, as the kernel does since 0c05e7bd2d01 ("livepatch,x86: Clear
 * relocation targets on a module removal") -- x86's apply_relocate_add refuses to write a
 * field that is not zero, so without it a reloaded module could not be patched again.
 *
 * Which kernel: the checks and messages are 6.12's (the same texts as 6.1's, but for the
 * nonzero-field line, "Invalid" since that commit where 6.1 says "Skipping invalid"). One
 * difference in timing, on purpose: 6.1 and 6.12 write vmlinux's relocations from the module
 * loader, during the patch module's load; the lab writes them in klp_init_object_loaded() at
 * enable, as kernels before 5.8 did, so that the module loader needs no livepatch hook. A patch
 * module's init must not use them before klp_enable_patch() (none does).
 *
 * Stricter than the kernel, which may leave a section written when a later one fails:
 * everything an object needs is resolved and computed on host copies first (prepare), and
 * only written to guest memory when all of it succeeded (commit), so a failure changes no
 * guest byte.
 */
import {
  applyRelocation,
  ENOEXEC,
  EINVAL,
  ModuleFormatError,
  RelocationOverflowError,
  SHF_EXECINSTR,
  SHF_RELA_LIVEPATCH,
  SHN_LIVEPATCH,
  UnsupportedRelocationError,
  type ElfRelocationSection,
  type ElfSection,
} from '../elf/index.ts';
import type { Kernel } from '../kernel/index.ts';
import { LivepatchError } from './errors.ts';
import { KERN_ERR, KERN_WARNING, prErr } from './log.ts';

/** The patch module's object file as loaded: what klp_modinfo keeps in the kernel. */
export interface KlpModuleElf {
  /** The patch module's name, for apply_relocate_add's messages. */
  readonly name: string;
  /** Its relocation sections the module loader left alone (SHF_RELA_LIVEPATCH), in section order. */
  readonly relocations: readonly ElfRelocationSection[];
  /** Final address of one of its sections (undefined: not placed). */
  placement(section: ElfSection): bigint | undefined;
}

/** klp_find_object_symbol(): objname null for vmlinux; prints the kernel's message and throws LivepatchError. */
export type KlpSymbolFinder = (objname: string | null, name: string, sympos: number) => bigint;

/** One relocated field, ready to be written (or written: then clearing it needs its value). */
export interface KlpRelocWrite {
  readonly address: bigint;
  readonly bytes: Uint8Array;
  readonly type: number;
  /** The value as apply_relocate_add prints it (%Lx of S + A, minus P when PC-relative). */
  readonly value: bigint;
  /** In a text section: translated blocks must be dropped. */
  readonly code: boolean;
  /** The .klp.rela section it comes from (clearing gives up section by section). */
  readonly section: string;
}

const SEC_NAME = /^\.klp\.rela\.([^.]{1,55})/;
const SYM_NAME = /^\.klp\.sym\.([^.]{1,55})\.([^,]{1,511}),\s*\+?(\d+)/;

/** A module's log line from arch/x86/kernel/module.c ("module: ..."). */
function modulePr(k: Kernel, level: number, text: string): void {
  k.log.hostPrintk(level, `module: ${text}`, k.machine.clockNs);
}

const u64hex = (v: bigint) => BigInt.asUintN(64, v).toString(16);

/** The object name of a .klp.rela section, as klp_write_section_relocs() parses it; throws -EINVAL. */
function sectionObjname(k: Kernel, rs: ElfRelocationSection): string {
  const m = SEC_NAME.exec(rs.section.name);
  if (!m) {
    prErr(k, `section ${rs.section.name} has an incorrectly formatted name`);
    throw new LivepatchError(EINVAL, `${rs.section.name}: not .klp.rela.<object>.<section>`);
  }
  return m[1];
}

/**
 * klp_apply_object_relocs() without the writing: the fields of every relocation of the patch
 * module's sections for `objname` (null: vmlinux), resolved and computed against the guest's
 * current bytes. Throws LivepatchError with the kernel's errno after the kernel's message.
 */
export function prepareObjectRelocs(k: Kernel, pmod: KlpModuleElf, objname: string | null, find: KlpSymbolFinder): KlpRelocWrite[] {
  const want = objname ?? 'vmlinux';
  const writes: KlpRelocWrite[] = [];
  // a host copy per target section, so two sections writing one field are caught as in the guest
  const copies = new Map<ElfSection, { bytes: Uint8Array; address: bigint }>();
  for (const rs of pmod.relocations) {
    if (!(rs.section.flags & SHF_RELA_LIVEPATCH)) continue;
    const secObjname = sectionObjname(k, rs);
    if (secObjname !== want) continue;
    const secVmlinux = secObjname === 'vmlinux';

    // klp_resolve_symbols()
    const values = new Map<number, bigint>();
    for (const r of rs.entries) {
      const sym = r.symbol;
      if (values.has(sym.index)) continue;
      if (sym.shndx !== SHN_LIVEPATCH || sym.section) {
        prErr(k, `symbol ${sym.name} is not marked as a livepatch symbol`);
        throw new LivepatchError(EINVAL, `${rs.section.name}: symbol ${sym.name} is not SHN_LIVEPATCH`);
      }
      const m = SYM_NAME.exec(sym.name);
      if (!m) {
        prErr(k, `symbol ${sym.name} has an incorrectly formatted name`);
        throw new LivepatchError(EINVAL, `${sym.name}: not .klp.sym.<object>.<name>,<sympos>`);
      }
      const [, symObjname, symName, pos] = m;
      const symVmlinux = symObjname === 'vmlinux';
      // a module's section may not reach into vmlinux: such symbols are exported, or belong in
      // a vmlinux section, and this keeps a module's writes independent of vmlinux's
      if (!secVmlinux && symVmlinux) {
        prErr(k, `invalid access to vmlinux symbol '${symName}' from module-specific livepatch relocation section`);
        throw new LivepatchError(EINVAL, `${rs.section.name}: vmlinux symbol ${symName}`);
      }
      values.set(sym.index, find(symVmlinux ? null : symObjname, symName, Number(pos)));
    }

    // apply_relocate_add(), on the host copy
    let copy = copies.get(rs.target);
    if (!copy) {
      const address = pmod.placement(rs.target);
      if (address === undefined) {
        modulePr(k, KERN_ERR, `${pmod.name}: ${rs.section.name} applies to ${rs.target.name}, which is not loaded`);
        throw new LivepatchError(ENOEXEC, `${rs.section.name}: target ${rs.target.name} not placed`);
      }
      copy = { address, bytes: Uint8Array.from(k.mem.bytes(address, rs.target.size)) };
      copies.set(rs.target, copy);
    }
    const site = { file: pmod.name, bytes: copy.bytes, section: rs.target, address: copy.address };
    for (const r of rs.entries) {
      const S = values.get(r.symbol.index)!;
      try {
        const done = applyRelocation(site, { offset: r.offset, type: r.type, addend: r.addend, symbol: r.symbol.name }, S);
        if (!done) continue;
        const at = Number(r.offset);
        writes.push({
          address: done.place,
          bytes: copy.bytes.slice(at, at + done.width),
          type: r.type,
          value: done.value,
          code: !!(rs.target.flags & SHF_EXECINSTR),
          section: rs.section.name,
        });
      } catch (e) {
        throw relocError(k, pmod, r.type, copy.address + r.offset, S + r.addend, e);
      }
    }
  }
  return writes;
}

/** apply_relocate_add()'s messages for what applyRelocation() refused; -ENOEXEC. */
function relocError(k: Kernel, pmod: KlpModuleElf, type: number, loc: bigint, sa: bigint, e: unknown): unknown {
  if (e instanceof UnsupportedRelocationError) {
    modulePr(k, KERN_ERR, `${pmod.name}: Unknown rela relocation: ${type}`);
  } else if (e instanceof RelocationOverflowError) {
    modulePr(k, KERN_ERR, `overflow in relocation type ${type} val ${u64hex(e.value)}`);
    modulePr(k, KERN_ERR, `\`${pmod.name}' likely not compiled with -mcmodel=kernel`);
  } else if (e instanceof ModuleFormatError && e.problem.includes('not 0 (relocated twice?)')) {
    modulePr(
      k,
      KERN_ERR,
      `x86/modules: Invalid relocation target, existing value is nonzero for type ${type}, loc ${u64hex(loc)}, val ${u64hex(sa)}`,
    );
  } else if (e instanceof ModuleFormatError) {
    modulePr(k, KERN_ERR, `${pmod.name}: ${e.problem}`);
  } else return e;
  return new LivepatchError(ENOEXEC, (e as Error).message);
}

/** Writes what prepareObjectRelocs() computed; nothing here can fail. */
export function commitRelocs(k: Kernel, writes: readonly KlpRelocWrite[]): void {
  for (const w of writes) write(k, w, w.bytes);
}

/**
 * clear_relocate_add(): the fields go back to zero so the next load of the module can write
 * them again. A field that no longer holds what was written is left alone, with the kernel's
 * warning, and so are the fields after it in the same section, where the kernel stops too.
 */
export function clearRelocs(k: Kernel, writes: readonly KlpRelocWrite[]): void {
  const failed = new Set<string>();
  for (const w of writes) {
    if (failed.has(w.section)) continue;
    const now = k.mem.bytes(w.address, w.bytes.length);
    if (!now.every((b, i) => b === w.bytes[i])) {
      failed.add(w.section);
      modulePr(
        k,
        KERN_WARNING,
        `x86/modules: Invalid relocation target, existing value does not match expected value for type ${w.type}, loc ${u64hex(w.address)}, val ${u64hex(w.value)}`,
      );
      continue;
    }
    write(k, w, new Uint8Array(w.bytes.length));
  }
}

function write(k: Kernel, w: KlpRelocWrite, bytes: Uint8Array): void {
  k.mem.write(w.address, bytes);
  // an operand inside an instruction: the instruction boundaries stay, translations must go
  if (w.code) for (const cpu of k.machine.cpus) cpu.uc.tbRemoveCache(w.address, w.address + BigInt(bytes.length));
}
