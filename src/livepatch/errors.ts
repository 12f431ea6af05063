// SPDX-License-Identifier: GPL-2.0-or-later
/* What the livepatch core's operations return to their callers: the kernel's errno, typed. */

/** An operation refused with -errno, as the write(2) or the module load would fail. */
export class LivepatchError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'LivepatchError';
  }
}
