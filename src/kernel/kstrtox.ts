// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's kstrtobool() (lib/kstrtox.c), for what user space writes: module parameters of
 * type bool, and sysfs attributes such as livepatch's enabled and force.
 */

/**
 * The first character decides -- y, Y, 1 true; n, N, 0 false -- except for o/O, where the
 * second does ("on" true, "off" false). Anything else is undefined (the kernel's -EINVAL).
 */
export function kstrtobool(s: string): boolean | undefined {
  const c = s[0];
  if (c === 'y' || c === 'Y' || c === '1') return true;
  if (c === 'n' || c === 'N' || c === '0') return false;
  if (c === 'o' || c === 'O') {
    const d = s[1];
    if (d === 'n' || d === 'N') return true;
    if (d === 'f' || d === 'F') return false;
  }
  return undefined;
}
