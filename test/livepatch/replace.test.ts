// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Atomic replace and old_sympos: klp_find_func() takes a func named with old_sympos 0 and one
 * named with 1 for the same function (for a symbol that exists once, both mean it), so a replace
 * patch that names a function the other way still takes the older patch's func over instead of
 * adding a nop for it beside its own func.
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';

const boot = useLab({ cpus: 2, workload: 'idle' });

describe('atomic replace', () => {
  it('adds no nop for a func the replace patch names with the other sympos spelling', async () => {
    const lab = await boot();
    lab.loadLp('test_klp_livepatch');
    expect(lab.lp.patch('test_klp_livepatch').objs[0].funcs[0].oldSympos).toBe(0);
    lab.loadLpNowait('test_klp_replace_sympos');
    const patch = lab.lp.patch('test_klp_replace_sympos');
    expect(lab.lp.transitionPatch).toBe(patch);
    // in transition: the nops are still there, so one would show now
    expect(patch.objs.map((o) => o.funcs.map((f) => `${o.displayName}/${f}${f.nop ? ' (nop)' : ''}`))).toEqual([
      ['vmlinux/lab_cmdline_show,1'],
    ]);
    const func = patch.objs[0].funcs[0];
    expect(func.oldSympos).toBe(1);
    // the function's func_stack: the new func over the old patch's, nothing between them
    expect(
      [...lab.lp.patcher.findOps(func.oldFunc)!.funcStack()].map((f) => `${f.object.patch.name} ${f}${f.nop ? ' (nop)' : ''}`),
    ).toEqual(['test_klp_replace_sympos lab_cmdline_show,1', 'test_klp_livepatch lab_cmdline_show,1']);
    lab.waitForTransition('test_klp_replace_sympos');
    expect(lab.cat('lab_cmdline_show')).toBe('test_klp_replace_sympos: this has been live patched\n');
    expect(lab.lp.patches.map((p) => p.name)).toEqual(['test_klp_replace_sympos']);
    lab.disableLp('test_klp_replace_sympos');
    lab.unloadLp('test_klp_replace_sympos');
    lab.unloadLp('test_klp_livepatch');
  });
});
