// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Address to symbol, the way the kernel prints it: "function+0xoff/0xsize". Symbols come from
 * the image's symbol table (functions and objects, plus sized or labelled entry code).
 */
import type { KernelImage } from './image.ts';

export function symbolize(image: KernelImage, address: bigint): string {
  const sym = image.symbolAt(address);
  if (!sym) return `0x${address.toString(16)}`;
  const off = address - sym.value;
  return `${sym.name}+0x${off.toString(16)}/0x${sym.size.toString(16)}`;
}
