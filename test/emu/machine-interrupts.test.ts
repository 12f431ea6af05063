// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Interrupt delivery by the machine (klp_run in native/klpemu.c), on a guest small enough to
 * count its instructions: a GDT, an IDT whose timer gate counts ticks and records where it
 * interrupted, and one loop per case. A pending interrupt must be taken as soon as IF becomes
 * 1 -- after sti's one-instruction shadow, right after popf or iret -- and not only when a
 * quantum starts; a cpu woken from hlt is running; a cpu halted with interrupts off is either
 * parked by its own report or a loud fault.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Machine, type MachineOptions } from '../../src/emu/machine.ts';
import { loadDisassembler } from '../../src/emu/disasm.ts';
import { asm as assemble } from './asm.ts';

/** GNU as, Intel syntax, placed at offset 0 (the code is loaded at BASE). */
const asm = (src: string): Buffer => assemble(src).code;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = 0x10_0000n;
const IDT = BASE + 0x1_0000n;
const TICKS = BASE + 0x2_0000n;
const LAST_RIP = TICKS + 8n;
const STACK_TOP = BASE + 0x3_0000n;
const HANDLER = 0x800; // offset of the timer handler in the code
const TIMER = 0x20;
const PORT_ONLINE = 0x10;
const PORT_DEAD = 0x11;
const PORT_RAISE = 0x12; // raises the timer vector on the writing cpu, as a self-IPI would

/** Ring 0 on our own GDT and IDT, interrupts off, reported online; then `body`. */
const guest = (body: string) => `
	cli
	lea rax, [rip + gdt]
	mov [rip + gdtr + 2], rax
	lgdt [rip + gdtr]
	lidt [rip + idtr]
	mov rsp, ${STACK_TOP}
	push 0x08
	lea rax, [rip + 1f]
	push rax
	.byte 0x48, 0xcb	# lretq: onto our code segment
1:	mov eax, 0x10
	mov ss, eax
	mov ds, eax
	mov es, eax
	out ${PORT_ONLINE}, al
${body}
	.balign 8
gdt:	.quad 0, 0x00af9a000000ffff, 0x00cf92000000ffff
gdtr:	.word 23
	.quad 0	# gdt's address, stored at run time (as does not know where the code goes)
idtr:	.word 4095
	.quad ${IDT}
	.org ${HANDLER}
	push rax
	mov rax, [rsp + 8]
	mov [${LAST_RIP}], rax
	pop rax
	inc qword ptr [${TICKS}]
	iretq
`;

interface Run {
  m: Machine;
  code: Buffer;
  /** Where the timer interrupted the loop, over all rounds. */
  interruptedAt: Set<bigint>;
}

function boot(body: string, opts: Partial<MachineOptions> = {}): Run {
  const m = new Machine({ cpus: 1, ramBase: BASE, ramSize: 0x4_0000, hz: 100, timerVector: TIMER, ...opts });
  const code = asm(guest(body));
  m.writeCode(BASE, code);
  // the timer gate: present, DPL 0, 64-bit interrupt gate, selector 0x08
  const h = BASE + BigInt(HANDLER);
  m.mem.setU32(IDT + BigInt(TIMER * 16), Number((h & 0xffffn) | (0x08n << 16n)));
  m.mem.setU32(IDT + BigInt(TIMER * 16) + 4n, Number((h & 0xffff0000n) | 0x8e00n));
  m.mem.setU32(IDT + BigInt(TIMER * 16) + 8n, Number(h >> 32n));
  m.onPort(PORT_ONLINE, (cpu) => {
    cpu.snapshotRing0();
    cpu.online = true;
  });
  m.onPort(PORT_DEAD, (cpu) => {
    cpu.online = false;
  });
  m.onPort(PORT_RAISE, (cpu) => cpu.raise(TIMER));
  const interruptedAt = new Set<bigint>();
  m.afterRound.push(() => {
    if (m.mem.u64(TICKS)) interruptedAt.add(m.mem.u64(LAST_RIP));
  });
  m.startCpu(0, BASE);
  return { m, code, interruptedAt };
}

/** Address just past the only occurrence of `bytes` in the code before the handler. */
function after(r: Run, bytes: number[]): bigint {
  const code = r.code.subarray(0, HANDLER);
  const at = code.indexOf(Buffer.from(bytes));
  expect(at, 'pattern in the code').toBeGreaterThan(0);
  expect(code.indexOf(Buffer.from(bytes), at + 1), 'pattern unique').toBe(-1);
  return BASE + BigInt(at + bytes.length);
}

beforeAll(async () => {
  await loadDisassembler();
  execFileSync('make', ['-s', '-C', join(ROOT, 'src/emu/native')]);
});

// ~2000 instructions with IF=0, then IF=1 for exactly one instruction boundary: a quantum
// (5000 instructions) almost never starts inside the window, so only delivery when IF becomes
// 1 lets the timer in.
const SPIN = '2:	mov ecx, 1000\n3:	dec ecx\n	jnz 3b\n';
const windows = [
  { how: 'sti', body: `${SPIN}	sti\n	nop\n	cli\n	jmp 2b`, opens: [0xfb, 0x90] },
  { how: 'popfq', body: `${SPIN}	push 0x202\n	popfq\n	cli\n	jmp 2b`, opens: [0x9d] },
  {
    how: 'iretq',
    body: `${SPIN}	mov rax, rsp\n	push 0x10\n	push rax\n	push 0x202\n	push 0x08\n	lea rax, [rip + 4f]\n	push rax\n	iretq\n4:	cli\n	jmp 2b`,
    opens: [0x48, 0xcf],
  },
];

describe('a pending interrupt is taken when IF becomes 1', () => {
  it.each(windows)('$how: every tick is taken, at the window', ({ body, opens }) => {
    const r = boot(body);
    try {
      const res = r.m.run({ ns: 1e9 });
      expect(res.stopped).toBeUndefined();
      // 100 ticks in the emulated second, the first ones before the cpu was online
      expect(Number(r.m.mem.u64(TICKS))).toBeGreaterThanOrEqual(98);
      // ... and only where IF is 1: after the sti shadow's nop, after popfq, at iretq's target
      expect([...r.interruptedAt]).toEqual([after(r, opens)]);
    } finally {
      r.m.close();
    }
  });
});

describe('the interrupt frame', () => {
  // klp_deliver reads cs and ss, 16-bit registers, into 64-bit slots: the slots' other bytes
  // were the native stack's, host addresses, pushed into guest memory -- which no replay of the
  // run could bring back (nor another process, with its own address layout)
  it('holds the selectors zero-extended and nothing of the host', () => {
    const r = boot(windows[0].body); // pushes nothing over the frame
    try {
      r.m.run({ ns: 1e8 });
      expect(Number(r.m.mem.u64(TICKS))).toBeGreaterThan(0);
      // the last frame, on the loop's stack (rsp is STACK_TOP there): rip, cs, rflags, rsp, ss
      const frame = STACK_TOP - 40n;
      expect(r.m.mem.u64(frame + 8n).toString(16)).toBe('8');
      expect(r.m.mem.u64(frame + 24n)).toBe(STACK_TOP);
      expect(r.m.mem.u64(frame + 32n).toString(16)).toBe('10');
    } finally {
      r.m.close();
    }
  });
});

describe('stepping', () => {
  it('runCpuUntil delivers nothing, even where IF becomes 1 with an interrupt pending', () => {
    const r = boot(windows[1].body);
    try {
      r.m.run({ rounds: 1 }); // online, in the loop
      const ticks = r.m.mem.u64(TICKS);
      r.m.raiseInterrupt(0, TIMER);
      const target = after(r, [0x9d]); // the cli after popfq
      r.m.runCpuUntil(0, target, 10_000);
      r.m.step(0, 3);
      expect(r.m.mem.u64(TICKS)).toBe(ticks);
      expect(r.m.cpus[0].ctl.hasPending).toBe(true);
    } finally {
      r.m.close();
    }
  });
});

describe('hlt', () => {
  // An idle loop as the firmware's, where the wakeup is raised while interrupts are off and
  // taken in hlt: whatever the quantum, sometimes the hlt is the quantum's last instruction.
  // The woken cpu is then running in the handler (IF=0 there), never "halted with interrupts
  // off".
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('a cpu woken in hlt at the end of its quantum (%i) is running, not dead', (quantum) => {
    const r = boot(`2:	cli\n	out ${PORT_RAISE}, al\n	nop\n	sti\n	hlt\n	jmp 2b`, { quantum, hz: 0 });
    try {
      const res = r.m.run({ rounds: 200 });
      expect(res.stopped).toBeUndefined();
      expect(r.m.cpus[0].dead).toBe(false);
      expect(Number(r.m.mem.u64(TICKS))).toBeGreaterThanOrEqual(Math.floor((200 * quantum) / 12) - 2);
    } finally {
      r.m.close();
    }
  });

  it('a cpu that reported itself dead parks in cli; hlt', () => {
    const r = boot(`	out ${PORT_DEAD}, al\n	cli\n2:	hlt\n	jmp 2b`);
    try {
      expect(r.m.run({ ns: 1e8 }).stopped).toMatchObject({ kind: 'dead' });
      expect(r.m.cpus[0].dead).toBe(true);
    } finally {
      r.m.close();
    }
  });

  it('an online cpu halted with interrupts off is a hard lockup, not a silent loss', () => {
    const r = boot('	cli\n2:	hlt\n	jmp 2b');
    try {
      const res = r.m.run({ ns: 1e8 });
      expect(res.stopped?.kind).toBe('fault');
      expect(res.stopped?.kind === 'fault' && res.stopped.fault.message).toMatch(
        /^cpu 0: hard LOCKUP: halted with interrupts disabled while online/,
      );
    } finally {
      r.m.close();
    }
  });
});
