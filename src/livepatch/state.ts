// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * System states (kernel/livepatch/state.c): a patch declares the states it sets up as
 * {id, version}; a replace patch must keep every state the installed patches declare, at an
 * equal or higher version, or it would drop something they rely on.
 */
import type { Livepatch } from './core.ts';
import type { KlpPatch, KlpState } from './structs.ts';

export function klpGetState(patch: KlpPatch, id: bigint): KlpState | undefined {
  return patch.states.find((s) => s.id === id);
}

/** The state with this id of the newest installed patch that has it (klp_get_prev_state). */
export function klpGetPrevState(lp: Livepatch, id: bigint): KlpState | undefined {
  for (let i = lp.patches.length - 1; i >= 0; i--) {
    const s = klpGetState(lp.patches[i], id);
    if (s) return s;
  }
  return undefined;
}

/** klp_is_patch_compatible(). */
export function isPatchCompatible(lp: Livepatch, patch: KlpPatch): boolean {
  for (const old of lp.patches) {
    for (const oldState of old.states) {
      const s = klpGetState(patch, oldState.id);
      // a patch that adds to the others may leave states alone; a replace patch may not
      if (!s) {
        if (patch.replace) return false;
        continue;
      }
      if (s.version < oldState.version) return false;
    }
  }
  return true;
}
