// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Module parameters (kernel/params.c): `insmod m.o name=value` and writes to
 * /sys/module/<m>/parameters/<name>. A module declares them with module_param() (firmware/
 * include/lab/module.h), which leaves "parmtype=name:type" and "parmperm=name:perm" in
 * .modinfo; the variable is the module's symbol of that name. Values are parsed and checked
 * before the module is written to guest memory, so a bad argument changes no guest byte.
 */
import { STT_OBJECT, ModuleError, type ModuleLayout } from '../elf/index.ts';
import type { GuestMemory } from '../emu/index.ts';
import { kstrtobool } from './kstrtox.ts';

/** A parameter that does not exist, cannot be written, or a value it cannot take. */
export class ModuleParamError extends ModuleError {}

export type ParamType = 'int' | 'uint' | 'long' | 'ulong' | 'bool';

export interface ModuleParam {
  readonly name: string;
  /** The element type (of each element, for an array). */
  readonly type: ParamType;
  /** The permission bits module_param() gave (0 when the object does not say). */
  readonly perm: number;
  /** module_param_array(): where the count goes ("" for nowhere). */
  readonly array?: { readonly num: string };
}

const SIZES: Record<ParamType, number> = { int: 4, uint: 4, long: 8, ulong: 8, bool: 1 };
const RANGES: Record<Exclude<ParamType, 'bool'>, [bigint, bigint]> = {
  int: [-(1n << 31n), (1n << 31n) - 1n],
  uint: [0n, (1n << 32n) - 1n],
  long: [-(1n << 63n), (1n << 63n) - 1n],
  ulong: [0n, (1n << 64n) - 1n],
};

/** The parameters an object declares, from its .modinfo. */
export function moduleParams(file: string, modinfo: ReadonlyMap<string, readonly string[]>): Map<string, ModuleParam> {
  const perms = new Map<string, number>();
  for (const e of modinfo.get('parmperm') ?? []) {
    const [name, perm] = splitEntry(file, 'parmperm', e);
    perms.set(name, parsePerm(file, name, perm));
  }
  const nums = new Map<string, string>();
  for (const e of modinfo.get('parmnum') ?? []) {
    const [name, num] = splitEntry(file, 'parmnum', e);
    nums.set(name, num === 'NULL' || num === '((void *)0)' ? '' : num.replace(/^&\s*/, ''));
  }
  const out = new Map<string, ModuleParam>();
  for (const e of modinfo.get('parmtype') ?? []) {
    const [name, full] = splitEntry(file, 'parmtype', e);
    const type = full.replace(/^array of /, '');
    if (!(type in SIZES))
      throw new ModuleParamError(file, 'EINVAL', `parameter '${name}' has type '${full}', which the loader does not know`);
    const array = full.startsWith('array of ') ? { num: nums.get(name) ?? '' } : undefined;
    out.set(name, { name, type: type as ParamType, perm: perms.get(name) ?? 0, array });
  }
  return out;
}

/**
 * A parameter's permission bits as module_param() recorded them, its argument expanded: 0644,
 * or S_IRUGO | S_IWUSR as (00400 | 00040 | 00004) | 00200. Octal, decimal or hex numbers
 * joined by '|' or '+'; anything else is a ModuleParamError.
 */
function parsePerm(file: string, name: string, perm: string): number {
  let value = 0;
  for (const term of perm.replace(/[()\s]/g, '').split(/[|+]/)) {
    const n = /^0[0-7]*$/.test(term)
      ? Number.parseInt(term, 8)
      : /^[1-9]\d*$/.test(term)
        ? Number(term)
        : /^0x[0-9a-f]+$/i.test(term)
          ? Number.parseInt(term, 16)
          : NaN;
    if (Number.isNaN(n)) throw new ModuleParamError(file, 'EINVAL', `parameter '${name}': permissions '${perm}' are not a number`);
    value |= n;
  }
  return value;
}

function splitEntry(file: string, tag: string, entry: string): [string, string] {
  const colon = entry.indexOf(':');
  if (colon <= 0) throw new ModuleParamError(file, 'EINVAL', `.modinfo ${tag}=${entry} is not name:value`);
  return [entry.slice(0, colon), entry.slice(colon + 1)];
}

/** The value's bytes (little endian), or a ModuleLoadError naming the module, parameter and value. */
export function encodeParam(module: string, p: ModuleParam, value: string): Uint8Array {
  const bytes = new Uint8Array(SIZES[p.type]);
  const invalid = () => new ModuleParamError(module, 'EINVAL', `'${value}' invalid for parameter '${p.name}' (${p.type})`);
  if (p.type === 'bool') {
    const v = kstrtobool(value);
    if (v === undefined) throw invalid();
    bytes[0] = v ? 1 : 0;
    return bytes;
  }
  const t = value.trim();
  if (!/^[-+]?(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.test(t)) throw invalid();
  const neg = t.startsWith('-');
  const digits = t.replace(/^[-+]/, '');
  let v = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  if (neg) v = -v;
  const [lo, hi] = RANGES[p.type];
  if (v < lo || v > hi) throw new ModuleParamError(module, 'ERANGE', `${value} out of range for parameter '${p.name}' (${p.type})`);
  const u = BigInt.asUintN(bytes.length * 8, v);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number((u >> BigInt(8 * i)) & 0xffn);
  return bytes;
}

/** Reads a parameter's current value as sysfs shows it. */
export function decodeParam(p: ModuleParam, bytes: Uint8Array): string {
  if (p.type === 'bool') return bytes[0] ? 'Y' : 'N';
  let u = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) u = (u << 8n) | BigInt(bytes[i]);
  const signed = p.type === 'int' || p.type === 'long';
  return String(signed ? BigInt.asIntN(bytes.length * 8, u) : u);
}

/** Where a module's variable is, placed, and its size: the object symbol of that name. */
function variable(layout: Pick<ModuleLayout, 'elf' | 'symbolAddress'>, module: string, name: string): { at: bigint; size: number } {
  const sym = layout.elf.symbolsNamed(name).find((s) => s.type === STT_OBJECT);
  const at = sym && layout.symbolAddress(sym);
  if (at === undefined) throw new ModuleParamError(module, 'ENOENT', `parameter variable '${name}' not found in the module`);
  return { at, size: Number(sym!.size) };
}

/** What writing `value` to a parameter stores: bytes at addresses (the array count too). */
function paramWrites(
  layout: Pick<ModuleLayout, 'elf' | 'symbolAddress'>,
  module: string,
  p: ModuleParam,
  value: string,
): Array<[bigint, Uint8Array]> {
  const v = variable(layout, module, p.name);
  if (!p.array) return [[v.at, encodeParam(module, p, value)]];
  const size = SIZES[p.type];
  const room = Math.floor(v.size / size);
  const values = value.split(',');
  if (values.length > room)
    throw new ModuleParamError(module, 'EINVAL', `parameter '${p.name}' holds ${room} ${p.type}s, got ${values.length}`);
  const writes: Array<[bigint, Uint8Array]> = values.map((x, i) => [v.at + BigInt(i * size), encodeParam(module, p, x)]);
  if (p.array.num) {
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, values.length, true);
    writes.push([variable(layout, module, p.array.num).at, count]);
  }
  return writes;
}

/**
 * `name=value` arguments, applied to a laid-out module's bytes before they reach guest memory.
 * Unknown names are refused (the kernel only warns; a lab run should not go on with a typo).
 */
export function applyParams(layout: ModuleLayout, module: string, args: Readonly<Record<string, string>>): void {
  const params = moduleParams(layout.file, layout.modinfo);
  for (const [name, value] of Object.entries(args)) {
    const p = params.get(name);
    if (!p)
      throw new ModuleParamError(
        module,
        'ENOENT',
        `unknown parameter '${name}' (the module has ${[...params.keys()].join(', ') || 'none'})`,
      );
    for (const [at, bytes] of paramWrites(layout, module, p, value)) layout.image.set(bytes, Number(at - layout.base));
  }
}

/** echo value > /sys/module/<m>/parameters/<name>: only what the owner may write (perm & 0200). */
export function writeParam(mem: GuestMemory, layout: ModuleLayout, module: string, name: string, value: string): void {
  const p = moduleParams(layout.file, layout.modinfo).get(name);
  if (!p) throw new ModuleParamError(module, 'ENOENT', `no such file: /sys/module/${module}/parameters/${name}`);
  if (!(p.perm & 0o200))
    throw new ModuleParamError(module, 'EPERM', `/sys/module/${module}/parameters/${name} is not writable (mode 0${p.perm.toString(8)})`);
  for (const [at, bytes] of paramWrites(layout, module, p, value)) mem.write(at, bytes);
}

/** cat /sys/module/<m>/parameters/<name>. */
export function readParam(mem: GuestMemory, layout: ModuleLayout, module: string, name: string): string {
  const p = moduleParams(layout.file, layout.modinfo).get(name);
  if (!p) throw new ModuleParamError(module, 'ENOENT', `no such file: /sys/module/${module}/parameters/${name}`);
  const v = variable(layout, module, name);
  const size = SIZES[p.type];
  if (!p.array) return decodeParam(p, mem.bytes(v.at, size));
  const n = p.array.num ? mem.u32(variable(layout, module, p.array.num).at) : Math.floor(v.size / size);
  return Array.from({ length: n }, (_, i) => decodeParam(p, mem.bytes(v.at + BigInt(i * size), size))).join(',');
}
