// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * text_poke for ftrace: turning a fentry site's NOP into "call trampoline" and back. Before
 * writing, the site is decoded with capstone and must hold exactly the instruction being
 * replaced (the NOP, or the call to that trampoline); anything else is an FtracePokeError
 * naming the site and what it holds, and no byte is written. Writes go through
 * Machine.writeCode(), which drops the translated code covering the site on every vCPU.
 *
 * Host code only runs while every vCPU is stopped between instructions, so the 5-byte write is
 * atomic with respect to the guest: a vCPU executes either the old instruction or the new one,
 * never a mix (the kernel needs an int3 and three synchronised steps for the same guarantee).
 */
import { type Kernel, symbolize } from '../kernel/index.ts';
import { disassemble, formatInsn } from '../emu/index.ts';
import { FtraceError, FtracePokeError, hexBytes } from './errors.ts';
import { describeSite, type FtraceSites, MCOUNT_INSN_SIZE, type FtraceSite } from './sites.ts';

/** What a code write needs: the kernel whose text it writes and the sites ftrace knows there (the Ftrace state). */
export interface FtraceText {
  readonly kernel: Kernel;
  readonly sites: FtraceSites;
}

/** The fentry NOP gcc emits with -mnop-mcount: nopl 0x0(%rax,%rax,1). */
export const FENTRY_NOP: Readonly<Uint8Array> = Uint8Array.of(0x0f, 0x1f, 0x44, 0x00, 0x00);

/** "call target" encoded at ip: e8 and a 32-bit displacement from the next instruction. */
export function callInsn(ip: bigint, target: bigint): Uint8Array {
  const rel = target - (ip + BigInt(MCOUNT_INSN_SIZE));
  if (rel < -(1n << 31n) || rel >= 1n << 31n)
    throw new FtraceError('EINVAL', `call from 0x${ip.toString(16)} cannot reach 0x${target.toString(16)} (more than 2 GiB away)`);
  const b = new Uint8Array(MCOUNT_INSN_SIZE);
  b[0] = 0xe8;
  new DataView(b.buffer).setInt32(1, Number(rel), true);
  return b;
}

/** The known site at exactly ip, or an FtraceError (-EINVAL) naming the address. */
export function siteAt(ft: FtraceText, ip: bigint): FtraceSite {
  const site = ft.sites.at(ip);
  if (!site) throw new FtraceError('EINVAL', `${symbolize(ft.kernel.image, ip)} (0x${ip.toString(16)}) is not an ftrace site`);
  return site;
}

function readSite(kernel: Kernel, site: FtraceSite): Uint8Array {
  if (!kernel.mem.contains(site.ip, MCOUNT_INSN_SIZE))
    throw new FtraceError('EFAULT', `${describeSite(site)} (0x${site.ip.toString(16)}) is not in guest memory`);
  return Uint8Array.from(kernel.mem.bytes(site.ip, MCOUNT_INSN_SIZE)); // a copy: the error keeps it
}

function decoded(bytes: Uint8Array, ip: bigint): string {
  const insns = disassemble(bytes, ip);
  if (!insns.length) return 'undecodable';
  const text = insns.map(formatInsn).join('; ');
  const used = insns.reduce((n, i) => n + i.size, 0);
  return used < bytes.length ? `${text}; then a partial instruction` : text;
}

function mismatch(site: FtraceSite, found: Uint8Array, expected: string): FtracePokeError {
  return new FtracePokeError(describeSite(site), site.ip, found, decoded(found, site.ip), expected);
}

/** Checks that the site at ip holds the fentry NOP; returns the site. */
export function ftraceCheckNop(ft: FtraceText, ip: bigint): FtraceSite {
  const site = siteAt(ft, ip);
  const found = readSite(ft.kernel, site);
  const [insn] = disassemble(found, ip, 1);
  const ok = insn && insn.mnemonic === 'nop' && insn.size === MCOUNT_INSN_SIZE && sameBytes(found, FENTRY_NOP);
  if (!ok) throw mismatch(site, found, `the fentry NOP ${hexBytes(FENTRY_NOP)}`);
  return site;
}

/** Checks that the site at ip holds "call target"; returns the site. */
export function ftraceCheckCall(ft: FtraceText, ip: bigint, target: bigint): FtraceSite {
  const site = siteAt(ft, ip);
  const found = readSite(ft.kernel, site);
  const [insn] = disassemble(found, ip, 1);
  const ok =
    insn !== undefined &&
    insn.mnemonic === 'call' &&
    insn.size === MCOUNT_INSN_SIZE &&
    /^0x[0-9a-f]+$/.test(insn.opStr) &&
    BigInt(insn.opStr) === target &&
    sameBytes(found, callInsn(ip, target));
  if (!ok) throw mismatch(site, found, `call 0x${target.toString(16)}`);
  return site;
}

/** NOP -> "call target" at the site ip (the kernel's ftrace_make_call). */
export function ftraceMakeCall(ft: FtraceText, ip: bigint, target: bigint): void {
  const insn = callInsn(ip, target);
  ftraceCheckNop(ft, ip);
  ft.kernel.machine.writeCode(ip, insn);
}

/** "call from" -> "call to" at the site ip (the kernel's ftrace_modify_call). */
export function ftraceModifyCall(ft: FtraceText, ip: bigint, from: bigint, to: bigint): void {
  const insn = callInsn(ip, to);
  ftraceCheckCall(ft, ip, from);
  ft.kernel.machine.writeCode(ip, insn);
}

/** "call target" -> NOP at the site ip (the kernel's ftrace_make_nop). */
export function ftraceMakeNop(ft: FtraceText, ip: bigint, target: bigint): void {
  ftraceCheckCall(ft, ip, target);
  ft.kernel.machine.writeCode(ip, Uint8Array.from(FENTRY_NOP));
}

function sameBytes(a: Uint8Array, b: Readonly<Uint8Array>): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
