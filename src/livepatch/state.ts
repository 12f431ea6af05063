// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * System states (kernel/livepatch/state.c): a patch declares the states it sets up as
 * {id, version}; a replace patch must keep every state the installed patches declare, at an
 * equal or higher version, or it would drop something they rely on.
 */
import type { Kernel } from '../kernel/index.ts';
import type { KlpPatch, KlpState } from './structs.ts';
import { warnOn } from './log.ts';

export function klpGetState(patch: KlpPatch, id: bigint): KlpState | undefined {
  return patch.states.find((s) => s.id === id);
}

/**
 * klp_get_prev_state(): during a transition, the state with this id of the newest patch
 * installed before the one in transition. A cumulative patch's callbacks use it to take over
 * what the patches it replaces set up; they are still on the list until its post_patch ran.
 */
export function klpGetPrevState(
  k: Kernel,
  patches: readonly KlpPatch[],
  transitionPatch: KlpPatch | null,
  id: bigint,
): KlpState | undefined {
  if (warnOn(k, !transitionPatch, 'klp_get_prev_state() outside a transition')) return undefined;
  let last: KlpState | undefined;
  for (const p of patches) {
    if (p === transitionPatch) break;
    last = klpGetState(p, id) ?? last;
  }
  return last;
}

/** klp_is_patch_compatible(). */
export function isPatchCompatible(patches: readonly KlpPatch[], patch: KlpPatch): boolean {
  for (const old of patches) {
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
