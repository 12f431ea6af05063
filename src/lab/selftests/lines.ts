// SPDX-License-Identifier: GPL-2.0-or-later
/* The kernel log lines the selftests expect again and again: a whole transition of a patch. */

/**
 * modprobe of patch p, from "enabling patch" to "patching complete", with the pre/post_patch
 * callback lines of a callback test module for each of `objs` ("vmlinux", "mod -> [STATE]").
 */
export function patching(p: string, objs: readonly string[] = []): string[] {
  return [
    `livepatch: enabling patch '${p}'`,
    `livepatch: '${p}': initializing patching transition`,
    ...objs.map((o) => `${p}: pre_patch_callback: ${o}`),
    `livepatch: '${p}': starting patching transition`,
    `livepatch: '${p}': completing patching transition`,
    ...objs.map((o) => `${p}: post_patch_callback: ${o}`),
    `livepatch: '${p}': patching complete`,
  ];
}

/** echo 0 > .../p/enabled through "unpatching complete", with the unpatch callback lines. */
export function unpatching(p: string, objs: readonly string[] = []): string[] {
  return [
    `% echo 0 > /sys/kernel/livepatch/${p}/enabled`,
    `livepatch: '${p}': initializing unpatching transition`,
    ...objs.map((o) => `${p}: pre_unpatch_callback: ${o}`),
    `livepatch: '${p}': starting unpatching transition`,
    `livepatch: '${p}': completing unpatching transition`,
    ...objs.map((o) => `${p}: post_unpatch_callback: ${o}`),
    `livepatch: '${p}': unpatching complete`,
  ];
}
