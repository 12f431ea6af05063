// SPDX-License-Identifier: GPL-2.0-or-later
// COMING and GOING notifiers, which the livepatch core uses to patch modules that load after
// a patch: COMING after the module is placed and before its init, GOING after its exit (or
// after a failed init), in priority order; a COMING notifier may refuse a load, and then only
// those before it hear GOING. ftrace's hooks are no notifiers: its init runs before COMING and
// its release after GOING for every module that goes, whoever refused it.
import { describe, expect, it } from 'vitest';
import { callGuest, type HostTask } from '../../src/kernel/hostcall.ts';
import { ModuleInitError, ModuleLoadError, type LoadedModule } from '../../src/kernel/modules.ts';
import { orcUnwinder } from '../../src/orc/unwind.ts';
import { fixture, hostRegionHash, ramHash, thrown, withModules } from './helpers.ts';

describe('module notifiers', () => {
  it('tell COMING before init and GOING after exit, in priority order', async () => {
    await withModules({}, (k, ms) => {
      const seen: string[] = [];
      const loaded = () => k.log.messages().some((l) => l.endsWith('lab_mod_hello: loaded'));
      const unloaded = () => k.log.messages().some((l) => l.includes('lab_mod_hello: unloaded'));
      ms.onComing((m) => {
        // placed and visible, code in memory, init not run yet
        expect(ms.moduleAt(m.base)).toBe(m);
        expect(k.mem.u64(m.findSymbol('hello_base'))).toBe(100n);
        expect(Buffer.from(k.mem.bytes(m.init!, 5)).toString('hex')).toBe('0f1f440000');
        seen.push(`coming ${m.name} ${m.state} init-ran=${loaded()}`);
      });
      ms.onGoing((m) => {
        seen.push(`going ${m.name} ${m.state} exit-ran=${unloaded()}`);
        // still there while GOING: symbolized, text known to the unwinder
        expect(ms.symbolize(m.init!)).toMatch(/^hello_init\+0x0\/.* \[lab_mod_hello\]$/);
        expect(orcUnwinder(k).isText(Number(m.init! - k.mem.base))).toBe(true);
      });
      ms.notifier({
        priority: 10,
        coming: (m) => void seen.push(`first coming ${m.name}`),
        going: (m) => void seen.push(`first going ${m.name}`),
      });
      const dropped = ms.onComing(() => void seen.push('never'));
      dropped();

      ms.load(fixture('lab_mod_hello'));
      ms.unload('lab_mod_hello');
      expect(seen).toEqual([
        'first coming lab_mod_hello',
        'coming lab_mod_hello COMING init-ran=false',
        'first going lab_mod_hello',
        'going lab_mod_hello GOING exit-ran=true',
      ]);
    });
  });

  it('let a notifier run guest code in task context by returning a host task', async () => {
    await withModules({}, (k, ms) => {
      let probe = 0n;
      let ranIn = '';
      ms.onComing(function* (m: LoadedModule): HostTask<number> {
        probe = yield* callGuest(k.sym('lab_probe'));
        // the module's own code is callable already, before its init
        probe += yield* callGuest(m.findSymbol('lab_hello_greet'), 1000n);
        ranIn = k.machine.cpus.map((_c, i) => k.cpuCurr(i)).find((t) => t.comm === 'khostd')?.comm ?? '';
        return 0;
      });
      ms.load(fixture('lab_mod_hello'));
      expect(probe).toBe(1n + 1100n);
      expect(ranIn).toBe('khostd');
    });
  });

  it('take the module away when a COMING notifier refuses it, telling GOING only to those before', async () => {
    await withModules({}, (k, ms) => {
      const seen: string[] = [];
      ms.notifier({ priority: 5, coming: () => void seen.push('A coming'), going: () => void seen.push('A going') });
      ms.notifier({ coming: () => (seen.push('B coming'), -16), going: () => void seen.push('B going') });
      ms.notifier({ priority: -5, coming: () => void seen.push('C coming'), going: () => void seen.push('C going') });
      const ram = ramHash(k);
      const free = k.hostMem.bytesFree;
      const e = thrown(() => ms.load(fixture('lab_mod_hello'))) as ModuleLoadError;
      expect(e).toBeInstanceOf(ModuleLoadError);
      expect(e.errno).toBe('EBUSY');
      expect(e.message).toBe('lab_mod_hello: a COMING notifier refused the module (-16) (-EBUSY)');
      expect(seen).toEqual(['A coming', 'B coming', 'A going']);
      // the init never ran and no guest code did: guest RAM is as it was
      expect(k.log.messages().some((l) => l.includes('lab_mod_hello: loaded'))).toBe(false);
      expect(ramHash(k)).toBe(ram);
      expect(k.hostMem.bytesFree).toBe(free);
      expect(ms.list()).toEqual([]);

      // a notifier that throws refuses the same way, its error reaching the caller
      seen.length = 0;
      const off = ms.onComing(() => {
        throw new Error('no thanks');
      }, 100);
      expect(() => ms.load(fixture('lab_mod_hello'))).toThrow('no thanks');
      off();
      expect(seen).toEqual([]);
      expect(ms.list()).toEqual([]);
      expect(ramHash(k)).toBe(ram);
    });
  });

  it('tell GOING when the init fails, and never run the exit', async () => {
    await withModules({}, (k, ms) => {
      const seen: string[] = [];
      let init = 0n;
      ms.onComing((m) => {
        init = m.init!;
        seen.push(`coming ${m.name}`);
      });
      ms.onGoing((m) => void seen.push(`going ${m.name} ${m.state}`));
      const region = hostRegionHash(k);
      const free = k.hostMem.bytesFree;
      const e = thrown(() => ms.load(fixture('lab_mod_initfail'))) as ModuleInitError;
      expect(e).toBeInstanceOf(ModuleInitError);
      expect(e.errno).toBe('EINVAL');
      expect(e.code).toBe(-22);
      expect(e.ret).toBe(-22);
      expect(e.message).toMatch(
        /^lab_mod_initfail: init function initfail_init\+0x0\/0x[0-9a-f]+ \[lab_mod_initfail\] returned -22: module unloaded again \(-EINVAL\)$/,
      );
      expect(seen).toEqual(['coming lab_mod_initfail', 'going lab_mod_initfail GOING']);
      const log = k.log.messages();
      expect(log.filter((l) => l.endsWith('lab_mod_initfail: refusing to load'))).toHaveLength(1);
      expect(log.some((l) => l.includes('exit must not run'))).toBe(false);
      // nothing left: list, memory, unwinder, symbolizer
      expect(ms.list()).toEqual([]);
      expect(k.hostMem.bytesFree).toBe(free);
      expect(hostRegionHash(k)).toBe(region);
      expect(ms.moduleAt(init)).toBeUndefined();
      expect(ms.symbolize(init)).toBe(`0x${init.toString(16)}`);
      expect(orcUnwinder(k).isText(Number(init - k.mem.base))).toBe(false);
      // and a good module loads where it was
      expect(ms.load(fixture('lab_mod_hello')).state).toBe('LIVE');
    });
  });

  it("run ftrace's release for every module that goes: refused, failed in its init, unloaded", async () => {
    await withModules({}, (_k, ms) => {
      const seen: string[] = [];
      ms.setFtrace({
        init: (m) => void seen.push(`ftrace init ${m.name}`),
        release: (m) => void seen.push(`ftrace release ${m.name} ${m.state}`),
      });
      expect(() => ms.setFtrace({ init: () => {}, release: () => {} })).toThrow(/already has its ftrace hooks/);
      let refuse = true;
      ms.notifier({ priority: 5, coming: (m) => void seen.push(`A coming ${m.name}`), going: (m) => void seen.push(`A going ${m.name}`) });
      ms.notifier({
        coming: (m) => (seen.push(`B coming ${m.name}`), refuse ? -16 : 0),
        going: (m) => void seen.push(`B going ${m.name}`),
      });
      ms.notifier({ priority: -5, going: (m) => void seen.push(`C going ${m.name}`) });
      expect(thrown(() => ms.load(fixture('lab_mod_hello')))).toBeInstanceOf(ModuleLoadError);
      expect(seen.splice(0)).toEqual([
        'ftrace init lab_mod_hello',
        'A coming lab_mod_hello',
        'B coming lab_mod_hello',
        'A going lab_mod_hello',
        'ftrace release lab_mod_hello GOING',
      ]);
      refuse = false;
      expect(thrown(() => ms.load(fixture('lab_mod_initfail')))).toBeInstanceOf(ModuleInitError);
      expect(seen.splice(0).slice(3)).toEqual([
        'A going lab_mod_initfail',
        'B going lab_mod_initfail',
        'C going lab_mod_initfail',
        'ftrace release lab_mod_initfail GOING',
      ]);
      ms.load(fixture('lab_mod_hello'));
      seen.length = 0;
      ms.unload('lab_mod_hello');
      expect(seen).toEqual([
        'A going lab_mod_hello',
        'B going lab_mod_hello',
        'C going lab_mod_hello',
        'ftrace release lab_mod_hello GOING',
      ]);
    });
  });
});
