// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-state.sh, re-created: cumulative patches that change a system state (console_loglevel)
 * and declare it as a klp_state. A newer version takes the change over through
 * klp_get_prev_state() in its callbacks -- which works because the replaced patch stays
 * installed until the new patch's post_patch callback has run (7e35e4eb) -- and an older
 * version is refused as incompatible, with guest memory left as it was.
 */
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/selftest.ts';
import { useLab } from './helpers.ts';

const LP = 'test_klp_state';
const LP2 = 'test_klp_state2';
const LP3 = 'test_klp_state3';

const boot = useLab({ cpus: 2, workload: 'idle' });

const loglevel = (lab: Lab) => lab.k.mem.s32(lab.k.sym('console_loglevel'));

function enable(p: string, first: boolean): string[] {
  return [
    `% modprobe ${p}`,
    `livepatch: enabling patch '${p}'`,
    `livepatch: '${p}': initializing patching transition`,
    `${p}: pre_patch_callback: vmlinux`,
    first ? `${p}: allocate_loglevel_state: allocating space to store console_loglevel` : `${p}: allocate_loglevel_state: space to store console_loglevel already allocated`,
    `livepatch: '${p}': starting patching transition`,
    `livepatch: '${p}': completing patching transition`,
    `${p}: post_patch_callback: vmlinux`,
    first ? `${p}: fix_console_loglevel: fixing console_loglevel` : `${p}: fix_console_loglevel: taking over the console_loglevel change`,
    `livepatch: '${p}': patching complete`,
  ];
}

function disable(p: string): string[] {
  return [
    `% echo 0 > /sys/kernel/livepatch/${p}/enabled`,
    `livepatch: '${p}': initializing unpatching transition`,
    `${p}: pre_unpatch_callback: vmlinux`,
    `${p}: restore_console_loglevel: restoring console_loglevel`,
    `livepatch: '${p}': starting unpatching transition`,
    `livepatch: '${p}': completing unpatching transition`,
    `${p}: post_unpatch_callback: vmlinux`,
    `${p}: free_loglevel_state: freeing space for the stored console_loglevel`,
    `livepatch: '${p}': unpatching complete`,
    `% rmmod ${p}`,
  ];
}

describe('test-state', () => {
  it('system state modification', async () => {
    const lab = await boot();
    expect(loglevel(lab)).toBe(7);
    lab.loadLp(LP);
    expect(loglevel(lab)).toBe(15);
    lab.disableLp(LP);
    lab.unloadLp(LP);
    expect(loglevel(lab)).toBe(7);
    lab.checkResult([...enable(LP, true), ...disable(LP)]);
  });

  it('taking over system state modification', async () => {
    const lab = await boot();
    lab.loadLp(LP);
    const saved = lab.lp.patch(LP).states[0];
    lab.loadLp(LP2);
    // LP2 now owns the space LP allocated, holding the level from before (its post_patch
    // copied LP's pointer: LP was still installed then)
    const mine = lab.lp.patch(LP2).states[0];
    const dataOf = (address: bigint) => lab.k.mem.u64(address + lab.lp.L.state.data);
    expect(dataOf(saved.address)).not.toBe(0n);
    expect(dataOf(mine.address)).toBe(dataOf(saved.address));
    expect(lab.k.mem.s32(dataOf(mine.address))).toBe(7);
    expect(lab.lp.patches.map((p) => p.name)).toEqual([LP2]);
    lab.unloadLp(LP);
    expect(loglevel(lab)).toBe(15);
    lab.disableLp(LP2);
    lab.unloadLp(LP2);
    expect(loglevel(lab)).toBe(7);
    lab.checkResult([...enable(LP, true), ...enable(LP2, false), `% rmmod ${LP}`, ...disable(LP2)]);
  });

  it('compatible cumulative livepatches', async () => {
    const lab = await boot();
    lab.loadLp(LP2);
    lab.loadLp(LP3);
    lab.unloadLp(LP2);
    lab.loadLp(LP2);
    lab.disableLp(LP2);
    lab.unloadLp(LP2);
    lab.unloadLp(LP3);
    expect(loglevel(lab)).toBe(7);
    lab.checkResult([...enable(LP2, true), ...enable(LP3, false), `% rmmod ${LP2}`, ...enable(LP2, false), ...disable(LP2), `% rmmod ${LP3}`]);
  });

  it('incompatible cumulative livepatches', async () => {
    const lab = await boot();
    lab.loadLp(LP2);
    const ram = Buffer.from(lab.k.mem.bytes(lab.k.hostMem.start, Number(lab.k.hostMem.end - lab.k.hostMem.start)));
    const err = lab.loadFailingMod(LP);
    expect(err.message).toMatch(/returned -22/);
    expect(Buffer.compare(ram, Buffer.from(lab.k.mem.bytes(lab.k.hostMem.start, ram.length)))).toBe(0);
    lab.disableLp(LP2);
    lab.unloadLp(LP2);
    lab.checkResult([
      ...enable(LP2, true),
      `% modprobe ${LP}`,
      `livepatch: Livepatch patch (${LP}) is not compatible with the already installed livepatches.`,
      `modprobe: ERROR: could not insert '${LP}': Invalid argument`,
      ...disable(LP2),
    ]);
  });
});
