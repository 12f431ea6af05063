// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The klp structures are views over guest memory: a field the guest holds is read from there,
 * not from a host copy that could fall out of step with it.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });

describe('klp structures read through guest memory', () => {
  it('func->patched', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const func = lab.lp.patch('test_klp_livepatch').objs[0].funcs[0];
    const at = func.address + lab.lp.L.func.patched;
    const mem = lab.k.mem;
    expect(func.patched).toBe(true);
    expect(mem.u8(at)).toBe(1);
    mem.setU8(at, 0);
    expect(func.patched).toBe(false);
    mem.setU8(at, 1);
    lab.disableLp('test_klp_livepatch');
    expect(mem.u8(at)).toBe(0);
    lab.unloadLp('test_klp_livepatch');
  });

  it('func->old_size', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const func = lab.lp.patch('test_klp_livepatch').objs[0].funcs[0];
    const at = func.address + lab.lp.L.func.old_size;
    const mem = lab.k.mem;
    const size = mem.u64(at);
    expect(size).toBe(BigInt(lab.k.image.elf.findSymbol(func.oldName).size));
    expect(func.oldSize).toBe(Number(size));
    mem.setU64(at, size + 1n);
    expect(func.oldSize).toBe(Number(size) + 1);
    mem.setU64(at, size);
    lab.disableLp('test_klp_livepatch');
    lab.unloadLp('test_klp_livepatch');
  });

  it('func->new_size', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const func = lab.lp.patch('test_klp_livepatch').objs[0].funcs[0];
    const at = func.address + lab.lp.L.func.new_size;
    const mem = lab.k.mem;
    const size = mem.u64(at);
    expect(size).toBeGreaterThan(0n);
    expect(func.newSize).toBe(Number(size));
    mem.setU64(at, size + 1n);
    expect(func.newSize).toBe(Number(size) + 1);
    mem.setU64(at, size);
    lab.disableLp('test_klp_livepatch');
    lab.unloadLp('test_klp_livepatch');
  });

  it('func->new_func', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const func = lab.lp.patch('test_klp_livepatch').objs[0].funcs[0];
    const at = func.address + lab.lp.L.func.new_func;
    const mem = lab.k.mem;
    const addr = mem.u64(at);
    expect(addr).not.toBe(0n);
    expect(func.newFunc).toBe(addr);
    mem.setU64(at, addr + 1n);
    expect(func.newFunc).toBe(addr + 1n);
    mem.setU64(at, addr);
    lab.disableLp('test_klp_livepatch');
    lab.unloadLp('test_klp_livepatch');
  });

  it('func->old_func', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const func = lab.lp.patch('test_klp_livepatch').objs[0].funcs[0];
    const at = func.address + lab.lp.L.func.old_func;
    const mem = lab.k.mem;
    const addr = mem.u64(at);
    expect(addr).toBe(lab.k.image.elf.findSymbol(func.oldName).value);
    expect(func.oldFunc).toBe(addr);
    mem.setU64(at, addr + 1n);
    expect(func.oldFunc).toBe(addr + 1n);
    mem.setU64(at, addr);
    lab.disableLp('test_klp_livepatch');
    lab.unloadLp('test_klp_livepatch');
  });

  it('func->nop', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const func = lab.lp.patch('test_klp_livepatch').objs[0].funcs[0];
    const at = func.address + lab.lp.L.func.nop;
    const mem = lab.k.mem;
    expect(mem.u8(at)).toBe(0);
    expect(func.nop).toBe(false);
    mem.setU8(at, 1);
    expect(func.nop).toBe(true);
    mem.setU8(at, 0);
    lab.disableLp('test_klp_livepatch');
    lab.unloadLp('test_klp_livepatch');
  });

  it('obj->patched', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const obj = lab.lp.patch('test_klp_livepatch').objs[0];
    const at = obj.address + lab.lp.L.obj.patched;
    const mem = lab.k.mem;
    expect(mem.u8(at)).toBe(1);
    expect(obj.patched).toBe(true);
    mem.setU8(at, 0);
    expect(obj.patched).toBe(false);
    mem.setU8(at, 1);
    lab.disableLp('test_klp_livepatch');
    expect(obj.patched).toBe(false);
    lab.unloadLp('test_klp_livepatch');
  });

  it('obj->callbacks.post_unpatch_enabled', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    const obj = lab.lp.patch('test_klp_livepatch').objs[0];
    const at = obj.address + lab.lp.L.obj.callbacks + lab.lp.L.cb.post_unpatch_enabled;
    const mem = lab.k.mem;
    expect(mem.u8(at)).toBe(1);
    expect(obj.postUnpatchEnabled).toBe(true);
    mem.setU8(at, 0);
    expect(obj.postUnpatchEnabled).toBe(false);
    mem.setU8(at, 1);
    lab.disableLp('test_klp_livepatch');
    expect(mem.u8(at)).toBe(0);
    lab.unloadLp('test_klp_livepatch');
  });

  it('obj->mod: klp_is_object_loaded()', async () => {
    const lab = await boot();
    const LP = 'test_klp_mod_patch';
    const TARGET = 'test_klp_mod_target';
    lab.loadLp(LP);
    const obj = lab.lp.patch(LP).objs.find((o) => o.name === TARGET)!;
    const at = obj.address + lab.lp.L.obj.mod;
    const mem = lab.k.mem;
    expect([mem.u64(at), obj.loaded]).toEqual([0n, false]);
    lab.loadMod(TARGET);
    const mod = lab.modules.find(TARGET)!.guestStruct!.address;
    expect([mem.u64(at), obj.loaded]).toEqual([mod, true]);
    mem.setU64(at, 0n);
    expect(obj.loaded).toBe(false);
    mem.setU64(at, mod);
    lab.unloadMod(TARGET);
    expect([mem.u64(at), obj.loaded]).toEqual([0n, false]);
    lab.disableLp(LP);
    lab.unloadLp(LP);
  });

  it('patch->enabled and patch->forced', async () => {
    const lab = await boot();
    const { k, lp } = lab;
    const DEMO = 'test_klp_callbacks_demo';
    const dir = `/sys/kernel/livepatch/${DEMO}`;
    lab.loadMod('test_klp_callbacks_busy', { block_transition: 'Y' });
    lab.loadLpNowait(DEMO);
    const patch = lp.patch(DEMO);
    const enabled = patch.address + lp.L.patch.enabled;
    const forced = patch.address + lp.L.patch.forced;
    const mem = k.mem;
    expect([mem.u8(enabled), mem.u8(forced)]).toEqual([1, 0]);
    mem.setU8(enabled, 0);
    expect(lp.sysfsRead(`${dir}/enabled`)).toBe('0');
    mem.setU8(enabled, 1);
    k.runFor(1500);
    expect(lp.transitionPatch).toBe(patch);
    // reversed to unpatching, then forced: the module's code may still run, it stays forever
    lp.sysfsWrite(`${dir}/enabled`, '0');
    expect(mem.u8(enabled)).toBe(0);
    lp.sysfsWrite(`${dir}/force`, '1');
    expect([mem.u8(forced), patch.forced]).toEqual([1, true]);
    lab.waitForTransition(DEMO, 3000);
    expect(() => lab.unloadLp(DEMO)).toThrow(/in use/);
    lab.setParam('test_klp_callbacks_busy', 'block_transition', 'N');
  });
});
