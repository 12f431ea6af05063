// SPDX-License-Identifier: GPL-2.0-or-later
// Bad inputs give typed errors that name the problem; a guest fault gives an oops report and
// leaves the lab working.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootKernel, BootError, DEFAULT_IMAGE } from '../../src/kernel/boot.ts';
import { KernelImage } from '../../src/kernel/image.ts';
import { KernelOops } from '../../src/kernel/kernel.ts';
import { ElfFormatError, SymbolNotFoundError } from '../../src/elf/index.ts';
import { UnmappedAddressError } from '../../src/emu/memory.ts';
import { withKernel } from '../helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'klp-bad-'));
const image = readFileSync(DEFAULT_IMAGE);

function variant(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('bad inputs', () => {
  it('a truncated image', async () => {
    const p = variant('truncated.elf', image.subarray(0, 5000));
    await expect(bootKernel({ image: p })).rejects.toThrow(ElfFormatError);
    await expect(bootKernel({ image: p })).rejects.toThrow(/truncated\.elf: truncated/);
  });

  it('a non-x86-64 image', async () => {
    const b = Buffer.from(image);
    b.writeUInt16LE(183, 18); // e_machine = EM_AARCH64
    await expect(bootKernel({ image: variant('arm.elf', b) })).rejects.toThrow(/arm\.elf: not an x86-64 ELF \(e_machine 183/);
  });

  it('an object that is not a linked lab kernel', async () => {
    await expect(bootKernel({ image: 'firmware/build/kernel/main.o' })).rejects.toThrow(/main\.o: not a linked kernel image/);
  });

  it('a missing symbol', () => {
    const img = KernelImage.load(DEFAULT_IMAGE);
    expect(() => img.symbol('no_such_function')).toThrow(SymbolNotFoundError);
    expect(() => img.symbol('no_such_function')).toThrow(/no_such_function/);
  });

  it('an unknown workload or too many cpus', async () => {
    await expect(bootKernel({ workload: 'nope' })).rejects.toThrow(BootError);
    await expect(bootKernel({ workload: 'nope' })).rejects.toThrow(/unknown workload 'nope'.*default/);
    await expect(bootKernel({ cpus: 65 })).rejects.toThrow(/at most 64/);
  });

  it('an unmapped guest address', async () => {
    await withKernel({ cpus: 1 }, (k) => {
      expect(() => k.mem.u64(0n)).toThrow(UnmappedAddressError);
      expect(() => k.mem.u64(0n)).toThrow(/guest address 0x0\+8 is not mapped/);
      expect(() => k.mem.u64(k.mem.end - 4n)).toThrow(/is not mapped/);
    });
  });

  it('a guest NULL dereference gives an oops report, and the lab goes on', async () => {
    let oops: KernelOops | undefined;
    await withKernel({ cpus: 2, workload: 'null-deref' }, (k) => {
      try {
        k.runFor(1000);
      } catch (e) {
        if (!(e instanceof KernelOops)) throw e;
        oops = e;
      }
      expect(k.machine.stopped?.kind).toBe('fault');
    });
    expect(oops).toBeDefined();
    const r = oops!.report;
    expect(oops!.fault.address).toBe(0n);
    expect(r).toMatch(/BUG: unable to handle page fault for address: 0000000000000000/);
    expect(r).toMatch(/Oops: page fault: write to an unmapped address/);
    expect(r).toMatch(/CPU: \d PID: \d+ Comm: kfault kernel mode/);
    expect(r).toMatch(/RIP: 0010:lab_fault_null\+0x[0-9a-f]+\/0x[0-9a-f]+/);
    expect(r).toMatch(/Code: ([0-9a-f]{2} )+<[0-9a-f]{2}>/);
    expect(r).toMatch(/RAX: [0-9a-f]{16} RBX: [0-9a-f]{16} RCX: [0-9a-f]{16}/);
    expect(r).toMatch(/=> lab_fault_null\+0x[0-9a-f]+ +mov dword ptr \[rax\], 0x2a/);
    // the lab itself is fine: boot again
    await withKernel({ cpus: 1, workload: 'idle' }, (k) => expect(k.runFor(50).rounds).toBeGreaterThan(0));
  });
});
