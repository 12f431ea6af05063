// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ftrace's refusals: every one is a typed error with the kernel's errno, and leaves guest memory
 * byte-identical. A site that does not hold what ftrace expects (the NOP before enabling, the
 * call before disabling) is an FtracePokeError naming the site and what was found there; a
 * wrong address is not a site; filters, double registration, a second ip-modifying ops and a
 * handler that is itself traceable are refused before anything is allocated; a trampoline that
 * host memory cannot hold fails the registration before any guest byte is written.
 */
import { describe, expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { HostMemoryError } from '../../src/kernel/hostmem.ts';
import { orcUnwinder } from '../../src/orc/index.ts';
import {
  Ftrace,
  FENTRY_NOP,
  FtraceError,
  FtraceOps,
  FtracePokeError,
  callInsn,
  ftraceMakeCall,
  ftraceMakeNop,
  ftraceReleaseMod,
  ftraceModuleInit,
  ftraceLocation,
  moduleFtraceSites,
  ftraceSetFilterIp,
  ftraceSiteTarget,
  ftraceTrampoline,
  ftraceTrampolines,
  registerFtraceFunction,
  registeredFtraceOps,
  unregisterFtraceFunction,
  type FtraceErrno,
} from '../../src/ftrace/index.ts';
import { compileModule, ramSnapshot, ramUnchanged, traceWithTestHandler } from './helpers.ts';

function thrown(fn: () => void): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

/** Runs fn, expects an FtraceError with errno, and checks that no byte of guest RAM changed. */
function refused(k: Kernel, errno: FtraceErrno, fn: () => void, message?: RegExp): FtraceError {
  ramSnapshot(k);
  const free = k.hostMem.bytesFree;
  const e = thrown(fn);
  expect(e).toBeInstanceOf(FtraceError);
  expect((e as FtraceError).errno).toBe(errno);
  if (message) expect(e.message).toMatch(message);
  expect(k.hostMem.bytesFree).toBe(free);
  expect(ramUnchanged(k)).toBe(true);
  return e as FtraceError;
}

describe('ftrace refuses', () => {
  it('to poke a site that does not hold the expected instruction, or a wrong address', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      const probe = k.sym('lab_probe');
      const tramp = ftraceTrampoline(ft);

      // five one-byte NOPs where the 5-byte NOP should be
      k.machine.writeCode(probe, Uint8Array.of(0x90, 0x90, 0x90, 0x90, 0x90));
      const e = refused(k, 'EINVAL', () => ftraceMakeCall(ft, probe, tramp)) as FtracePokeError;
      expect(e).toBeInstanceOf(FtracePokeError);
      expect(e.site).toMatch(/^lab_probe\+0x0\/0x[0-9a-f]+$/);
      expect(e.address).toBe(probe);
      expect([...e.found]).toEqual([0x90, 0x90, 0x90, 0x90, 0x90]);
      expect(e.foundInsn).toBe('nop; nop; nop; nop; nop');
      expect(e.message).toContain(`failed to modify lab_probe+0x0/`);
      expect(e.message).toContain(
        `(0x${probe.toString(16)}): found 90:90:90:90:90 (nop; nop; nop; nop; nop), expected the fentry NOP 0f:1f:44:00:00`,
      );

      // registering on it fails the same way and allocates nothing
      const ops = new FtraceOps({ func: 'ftrace_test_handler' });
      ftraceSetFilterIp(ft, ops, probe);
      refused(k, 'EINVAL', () => registerFtraceFunction(ft, ops), /failed to modify lab_probe/);
      expect(ops.registered).toBe(false);
      expect(registeredFtraceOps(ft)).toEqual([]);

      // disabling a site that holds the NOP, or a call elsewhere
      k.machine.writeCode(probe, Uint8Array.from(FENTRY_NOP));
      refused(
        k,
        'EINVAL',
        () => ftraceMakeNop(ft, probe, tramp),
        /found 0f:1f:44:00:00 \(nop dword ptr \[rax \+ rax\]\), expected call 0x/,
      );
      k.machine.writeCode(probe, callInsn(probe, k.sym('lab_probe_alt')));
      refused(
        k,
        'EINVAL',
        () => ftraceMakeNop(ft, probe, tramp),
        new RegExp(`found e8:.* \\(call 0x${k.sym('lab_probe_alt').toString(16)}\\)`),
      );
      k.machine.writeCode(probe, Uint8Array.from(FENTRY_NOP));

      // not a site: inside a function, an assembly symbol, a notrace function
      for (const at of [probe + 1n, k.sym('__switch_to_asm'), k.sym('ftrace_ops_list_func')]) {
        refused(k, 'EINVAL', () => ftraceMakeCall(ft, at, tramp), /is not an ftrace site/);
        refused(k, 'EINVAL', () => ftraceMakeNop(ft, at, tramp), /is not an ftrace site/);
      }
      refused(
        k,
        'EINVAL',
        () => ftraceMakeCall(ft, probe + 1n, tramp),
        /^ftrace: lab_probe\+0x1\/0x[0-9a-f]+ \(0xffffffff[0-9a-f]+\) is not an ftrace site \(-EINVAL\)$/,
      );

      // and a good site still works after all that
      ftraceMakeCall(ft, probe, tramp);
      ftraceMakeNop(ft, probe, tramp);
      expect([...k.mem.bytes(probe, 5)]).toEqual([...FENTRY_NOP]);
    });
  });

  it('to unregister when the site no longer holds the call, changing nothing', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      const probe = k.sym('lab_probe');
      const ops = traceWithTestHandler(ft, 'lab_probe');
      const call = Uint8Array.from(k.mem.bytes(probe, 5));
      k.machine.writeCode(probe, Uint8Array.of(0xcc, 0x1f, 0x44, 0x00, 0x00));
      const e = refused(k, 'EINVAL', () => unregisterFtraceFunction(ft, ops)) as FtracePokeError;
      expect(e.foundInsn).toMatch(/^int3/);
      expect(ops.registered).toBe(true);
      k.machine.writeCode(probe, call);
      unregisterFtraceFunction(ft, ops);
      expect([...k.mem.bytes(probe, 5)]).toEqual([...FENTRY_NOP]);
    });
  });

  it('bad filters, double registration, a second ip-modifying ops, traceable handlers', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      const probe = k.sym('lab_probe');
      const ops = new FtraceOps({ func: 'ftrace_test_handler', ipmodify: true });
      refused(k, 'EINVAL', () => registerFtraceFunction(ft, ops), /no filter ip/);
      refused(
        k,
        'EINVAL',
        () => ftraceSetFilterIp(ft, ops, probe + 1n),
        /lab_probe\+0x1\/0x[0-9a-f]+ \(0x[0-9a-f]+\) is not an ftrace location/,
      );
      refused(k, 'EINVAL', () => ftraceSetFilterIp(ft, ops, k.sym('ftrace_regs_caller')), /not an ftrace location/);
      refused(k, 'ENOENT', () => ftraceSetFilterIp(ft, ops, probe, true), /does not filter on lab_probe/);
      ftraceSetFilterIp(ft, ops, probe);
      refused(k, 'EINVAL', () => ftraceSetFilterIp(ft, ops, k.sym('lab_probe_alt')), /already filters on lab_probe/);
      ftraceSetFilterIp(ft, ops, k.sym('lab_probe_alt'), false, true); // reset replaces it
      expect(ops.ip).toBe(k.sym('lab_probe_alt'));
      ftraceSetFilterIp(ft, ops, k.sym('lab_probe_alt'), true);
      expect(ops.ip).toBeUndefined();
      ftraceSetFilterIp(ft, ops, probe);

      registerFtraceFunction(ft, ops);
      refused(k, 'EBUSY', () => registerFtraceFunction(ft, ops), /already registered/);
      refused(k, 'EBUSY', () => ftraceSetFilterIp(ft, ops, k.sym('lab_probe_alt'), false, true), /is registered/);
      const second = new FtraceOps({ func: 'ftrace_test_handler', ipmodify: true });
      ftraceSetFilterIp(ft, second, probe);
      refused(k, 'EBUSY', () => registerFtraceFunction(ft, second), /lab_probe\+0x0\/0x[0-9a-f]+ already has an ops that modifies the ip/);

      const traceable = new FtraceOps({ func: 'lab_probe_alt' });
      ftraceSetFilterIp(ft, traceable, probe);
      refused(
        k,
        'EINVAL',
        () => registerFtraceFunction(ft, traceable),
        /handler lab_probe_alt has an fentry site: ftrace handlers must be notrace/,
      );
      const unknown = new FtraceOps({ func: 'no_such_handler' });
      ftraceSetFilterIp(ft, unknown, probe);
      refused(k, 'EINVAL', () => registerFtraceFunction(ft, unknown), /handler 'no_such_handler'/);

      refused(k, 'EINVAL', () => unregisterFtraceFunction(ft, second), /not registered/);
      unregisterFtraceFunction(ft, ops);
      refused(k, 'EINVAL', () => unregisterFtraceFunction(ft, ops), /not registered/);
    });
  });

  it('to forget the sites of a module while one of them is traced', async () => {
    await withKernel({ cpus: 1, workload: 'idle' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      // a module's self-contained function, placed in host-managed guest memory as a loader would
      const elf = compileModule('int mod_fn(int x) { return x * 3 + 7; }\n');
      const text = elf.section('.text.mod_fn')!;
      const at = k.hostMem.alloc(text.size, 16, 'module text');
      k.machine.writeCode(at, text.data());
      const sites = moduleFtraceSites('mod', elf, (s) => (s === text ? at : undefined));
      expect(sites.map((s) => [s.func, s.ip])).toEqual([['mod_fn', at]]);
      ftraceModuleInit(ft, 'mod', sites);
      refused(k, 'EBUSY', () => ftraceModuleInit(ft, 'mod', sites), /sites of 'mod' are already known/);
      expect(ftraceLocation(ft, at)).toBe(at);

      const ops = new FtraceOps({ func: 'ftrace_test_handler' });
      ftraceSetFilterIp(ft, ops, at);
      registerFtraceFunction(ft, ops);
      expect([...k.mem.bytes(at, 5)]).toEqual([...callInsn(at, ftraceSiteTarget(ft, at)!)]);
      refused(k, 'EBUSY', () => ftraceReleaseMod(ft, 'mod'), /module 'mod': mod_fn\+0x0\/0x[0-9a-f]+ is still traced/);
      refused(k, 'EINVAL', () => ftraceReleaseMod(ft, 'vmlinux'), /the image's sites cannot be released/);
      unregisterFtraceFunction(ft, ops);
      expect([...k.mem.bytes(at, 5)]).toEqual([...FENTRY_NOP]);
      ftraceReleaseMod(ft, 'mod');
      expect(ftraceLocation(ft, at)).toBeUndefined();
      // its sites are gone: the address is no site any more
      refused(k, 'EINVAL', () => ftraceMakeCall(ft, at, ftraceTrampoline(ft)), /is not an ftrace site/);
    });
  });

  it('to register when host memory cannot hold the trampoline, changing nothing; unregistering falls back to the list walk', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      k.runFor(20);
      const probe = k.sym('lab_probe');
      const L = k.layout;
      // two ops on the site (the list walk), and the caller's memory for a third
      const a = traceWithTestHandler(ft, 'lab_probe');
      const b = traceWithTestHandler(ft, 'lab_probe');
      const owner = k.hostMem.alloc(L.sizeof('ftrace_ops'), 16, 'caller ops');
      // fill host memory: nothing is left for a trampoline
      const hog: bigint[] = [];
      for (let size = 1 << 24; size >= 1;) {
        try {
          hog.push(k.hostMem.alloc(size, 1, 'hog'));
        } catch {
          size >>= 1;
        }
      }
      expect(k.hostMem.bytesFree).toBe(0n);

      // a first ops on another site: its trampoline cannot be made, and nothing changed
      const c = new FtraceOps({ func: 'ftrace_test_handler', at: owner });
      ftraceSetFilterIp(ft, c, k.sym('crunch_step'));
      ramSnapshot(k);
      expect(thrown(() => registerFtraceFunction(ft, c))).toBeInstanceOf(HostMemoryError);
      expect(ramUnchanged(k)).toBe(true);
      expect(c.registered).toBe(false);
      expect(registeredFtraceOps(ft)).toEqual([b, a]);
      expect(ftraceTrampolines(ft).count.live).toBe(0);

      // one of two leaves: no trampoline for the other, the site stays on the list walk
      unregisterFtraceFunction(ft, b);
      expect(ftraceSiteTarget(ft, probe)).toBe(ftraceTrampoline(ft));
      expect([...k.mem.bytes(probe, 5)]).toEqual([...callInsn(probe, ftraceTrampoline(ft))]);
      const h0 = k.readArray('ftrace_test_hits', 0, 8);
      k.runFor(20);
      expect(k.readArray('ftrace_test_hits', 0, 8)).toBeGreaterThan(h0);
      // and the last one takes the site back to its NOP
      unregisterFtraceFunction(ft, a);
      expect([...k.mem.bytes(probe, 5)]).toEqual([...FENTRY_NOP]);
      for (const h of hog) k.hostMem.release(h);
      k.runFor(10);
      // with memory back, a lone ops gets its trampoline again
      const d = traceWithTestHandler(ft, 'lab_probe');
      expect(ftraceTrampolines(ft).at(ftraceSiteTarget(ft, probe)!)?.op).toBe(d.guest);
    });
  });

  it('to register before the cpus have booted', async () => {
    await withKernel({ cpus: 2, workload: 'probe' }, (k) => {
      const ft = new Ftrace(k, orcUnwinder(k));
      const ops = new FtraceOps({ func: 'ftrace_test_handler' });
      ftraceSetFilterIp(ft, ops, k.sym('lab_probe'));
      refused(k, 'EBUSY', () => registerFtraceFunction(ft, ops), /cpu 0, 1 not booted yet/);
    });
  });
});
