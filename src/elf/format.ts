// SPDX-License-Identifier: GPL-2.0-or-later
// Number formatting shared by error messages, so every offset and address
// is printed the way readelf prints it: lowercase hex with a 0x prefix.

export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
