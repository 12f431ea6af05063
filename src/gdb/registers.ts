// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The x86-64 registers as gdb sees them: a target description (qXfer:features:read) with the
 * features gdb's amd64 support requires (org.gnu.gdb.i386.core and .sse) and the segment bases
 * (org.gnu.gdb.i386.segments: fs_base, gs_base, which a kernel's per-cpu data hangs off), and
 * the `g` packet's bytes in that order, little-endian, read from and written to a vCPU's engine.
 */
import { uc, type Vcpu } from '../emu/index.ts';

interface RegDef {
  name: string;
  bits: number;
  type: string;
  /** Unicorn's register, where it has one gdb may read and write. */
  id?: number;
  group?: string;
}

const GPRS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const GPR_IDS = [
  uc.UC_X86_REG_RAX,
  uc.UC_X86_REG_RBX,
  uc.UC_X86_REG_RCX,
  uc.UC_X86_REG_RDX,
  uc.UC_X86_REG_RSI,
  uc.UC_X86_REG_RDI,
  uc.UC_X86_REG_RBP,
  uc.UC_X86_REG_RSP,
  uc.UC_X86_REG_R8,
  uc.UC_X86_REG_R9,
  uc.UC_X86_REG_R10,
  uc.UC_X86_REG_R11,
  uc.UC_X86_REG_R12,
  uc.UC_X86_REG_R13,
  uc.UC_X86_REG_R14,
  uc.UC_X86_REG_R15,
];

export const REGISTERS: readonly RegDef[] = [
  ...GPRS.map((name, i) => ({
    name,
    bits: 64,
    type: name === 'rbp' || name === 'rsp' ? 'data_ptr' : 'int64',
    id: GPR_IDS[i],
  })),
  { name: 'rip', bits: 64, type: 'code_ptr', id: uc.UC_X86_REG_RIP },
  { name: 'eflags', bits: 32, type: 'i386_eflags', id: uc.UC_X86_REG_EFLAGS },
  ...(['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const).map((name) => ({
    name,
    bits: 32,
    type: 'int32',
    id: {
      cs: uc.UC_X86_REG_CS,
      ss: uc.UC_X86_REG_SS,
      ds: uc.UC_X86_REG_DS,
      es: uc.UC_X86_REG_ES,
      fs: uc.UC_X86_REG_FS,
      gs: uc.UC_X86_REG_GS,
    }[name],
  })),
  ...Array.from({ length: 8 }, (_, i) => ({ name: `st${i}`, bits: 80, type: 'i387_ext', id: uc.UC_X86_REG_ST0 + i })),
  ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((name) => ({ name, bits: 32, type: 'int', group: 'float' })),
  ...Array.from({ length: 16 }, (_, i) => ({ name: `xmm${i}`, bits: 128, type: 'vec128', id: uc.UC_X86_REG_XMM0 + i })),
  { name: 'mxcsr', bits: 32, type: 'i386_mxcsr', id: uc.UC_X86_REG_MXCSR, group: 'vector' },
  { name: 'fs_base', bits: 64, type: 'int', id: uc.UC_X86_REG_FS_BASE },
  { name: 'gs_base', bits: 64, type: 'int', id: uc.UC_X86_REG_GS_BASE },
];

const FEATURE_OF = (i: number): string => (i < 40 ? 'core' : i < 57 ? 'sse' : 'segments');

const flag = (name: string, bit: number) => `<field name="${name}" start="${bit}" end="${bit}"/>`;

function regXml(r: RegDef, regnum: number): string {
  return `<reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${regnum}"${r.group ? ` group="${r.group}"` : ''}/>`;
}

/** target.xml, with every feature inline (gdb fetches no other annex). */
export function targetXml(): string {
  const regs = (feature: string) =>
    REGISTERS.map((r, i) => (FEATURE_OF(i) === feature ? regXml(r, i) : ''))
      .filter(Boolean)
      .join('\n');
  const eflags = [
    ['CF', 0],
    ['', 1],
    ['PF', 2],
    ['AF', 4],
    ['ZF', 6],
    ['SF', 7],
    ['TF', 8],
    ['IF', 9],
    ['DF', 10],
    ['OF', 11],
    ['NT', 14],
    ['RF', 16],
    ['VM', 17],
    ['AC', 18],
    ['VIF', 19],
    ['VIP', 20],
    ['ID', 21],
  ] as const;
  const mxcsr = [
    ['IE', 0],
    ['DE', 1],
    ['ZE', 2],
    ['OE', 3],
    ['UE', 4],
    ['PE', 5],
    ['DAZ', 6],
    ['IM', 7],
    ['DM', 8],
    ['ZM', 9],
    ['OM', 10],
    ['UM', 11],
    ['PM', 12],
    ['FZ', 15],
  ] as const;
  return `<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
${eflags.map(([n, b]) => flag(n, b)).join('\n')}
</flags>
${regs('core')}
</feature>
<feature name="org.gnu.gdb.i386.sse">
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
<field name="v4_float" type="v4f"/>
<field name="v2_double" type="v2d"/>
<field name="v16_int8" type="v16i8"/>
<field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/>
<field name="v2_int64" type="v2i64"/>
<field name="uint128" type="uint128"/>
</union>
<flags id="i386_mxcsr" size="4">
${mxcsr.map(([n, b]) => flag(n, b)).join('\n')}
</flags>
${regs('sse')}
</feature>
<feature name="org.gnu.gdb.i386.segments">
${regs('segments')}
</feature>
</target>
`;
}

/** One register's bytes (little-endian, its size); the FPU's control words read as at reset. */
export function readRegister(cpu: Vcpu, n: number): Buffer {
  const r = REGISTERS[n];
  const out = Buffer.alloc(r.bits / 8);
  if (r.id === undefined) {
    if (r.name === 'fctrl') out.writeUInt32LE(0x37f);
    return out;
  }
  if (r.bits <= 64) {
    const v = cpu.uc.regRead(r.id);
    for (let i = 0; i < out.length; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  } else cpu.uc.regReadRaw(r.id, out);
  return out;
}

/** The `g` packet's bytes: every register, in order. */
export function readRegisters(cpu: Vcpu): Buffer {
  return Buffer.concat(REGISTERS.map((_, i) => readRegister(cpu, i)));
}

/** Writes one register from its bytes; false for those the lab keeps fixed (segments, FPU words). */
export function writeRegister(cpu: Vcpu, n: number, bytes: Buffer): boolean {
  const r = REGISTERS[n];
  if (r.id === undefined || ['cs', 'ss', 'ds', 'es', 'fs', 'gs'].includes(r.name)) return false;
  if (r.bits <= 64) {
    let v = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
    cpu.uc.regWrite(r.id, v);
  } else cpu.uc.regWriteRaw(r.id, bytes);
  return true;
}

/** Writes the `G` packet's bytes (registers the lab keeps fixed are left as they are). */
export function writeRegisters(cpu: Vcpu, bytes: Buffer): void {
  let off = 0;
  REGISTERS.forEach((r, i) => {
    const n = r.bits / 8;
    if (off + n <= bytes.length) writeRegister(cpu, i, bytes.subarray(off, off + n));
    off += n;
  });
}
