// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Shadow variables seen from the host, in the manner of drgn: firmware/kernel/shadow.c keeps
 * them in the guest's klp_shadow_hash (the kernel's kernel/livepatch/shadow.c), and these
 * helpers read that table from guest memory, named after the kernel code they mirror.
 *
 * The table is read while every vCPU is stopped, but one of them may be stopped inside
 * klp_shadow_lock halfway through a change: klpShadowLocked() says so, and the walk checks
 * every link (in RAM, no loop, in the bucket its object hashes to) rather than trust it.
 */
import type { Layout, Target } from '../kernel/index.ts';

export class ShadowTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShadowTableError';
  }
}

/** One struct klp_shadow. */
export interface ShadowVariable {
  /** The struct itself. */
  readonly address: bigint;
  readonly obj: bigint;
  readonly id: bigint;
  /** shadow->data: what klp_shadow_get() returns. */
  readonly data: bigint;
  /** Bytes of data, as the allocation asked. */
  readonly size: number;
  readonly bucket: number;
}

/** Offsets and the hash's parameters, read once per image from its layout. */
class ShadowLayout {
  readonly next: bigint;
  readonly obj: bigint;
  readonly id: bigint;
  readonly size: bigint;
  readonly data: bigint;
  readonly structSize: number;
  readonly bits: number;
  readonly buckets: number;
  readonly mul: bigint;
  readonly locked: bigint;

  constructor(L: Layout) {
    const at = (m: string) => BigInt(L.offset('klp_shadow', m));
    this.next = at('next');
    this.obj = at('obj');
    this.id = at('id');
    this.size = at('size');
    this.data = at('data');
    this.structSize = L.sizeof('klp_shadow');
    this.bits = L.constant('KLP_SHADOW_HASH_BITS');
    this.buckets = 1 << this.bits;
    this.mul = (BigInt(L.constant('KLP_SHADOW_HASH_MUL_HI')) << 32n) | BigInt(L.constant('KLP_SHADOW_HASH_MUL_LO'));
    this.locked = BigInt(L.value('spinlock_t.locked'));
  }
}

const layouts = new WeakMap<Layout, ShadowLayout>();

function shadowLayout(t: Target): ShadowLayout {
  let s = layouts.get(t.layout);
  if (!s) {
    s = new ShadowLayout(t.layout);
    layouts.set(t.layout, s);
  }
  return s;
}

/** hash_ptr() as shadow.c computes it: the bucket that holds every variable of obj. */
export function klpShadowBucket(t: Target, obj: bigint): number {
  const S = shadowLayout(t);
  return Number(BigInt.asUintN(64, obj * S.mul) >> BigInt(64 - S.bits));
}

/** Whether klp_shadow_lock is held: a stopped vCPU may be in the middle of a change. */
export function klpShadowLocked(t: Target): boolean {
  return t.mem.u32(t.sym('klp_shadow_lock') + shadowLayout(t).locked) !== 0;
}

/** The variables of one bucket, newest first, each link checked. */
function* bucketChain(t: Target, bucket: number, limit: number): Generator<ShadowVariable> {
  const S = shadowLayout(t);
  let node = t.mem.u64(t.sym('klp_shadow_hash') + BigInt(8 * bucket));
  for (let n = 0; node !== 0n; n++) {
    if (n >= limit) throw new ShadowTableError(`shadow hash bucket ${bucket} longer than ${limit} entries: corrupt or looping`);
    if (!t.mem.contains(node, S.structSize))
      throw new ShadowTableError(`shadow hash bucket ${bucket}: link 0x${node.toString(16)} points outside RAM`);
    const v: ShadowVariable = {
      address: node,
      obj: t.mem.u64(node + S.obj),
      id: t.mem.u64(node + S.id),
      data: node + S.data,
      size: Number(t.mem.u64(node + S.size)),
      bucket,
    };
    const home = klpShadowBucket(t, v.obj);
    if (home !== bucket)
      throw new ShadowTableError(
        `shadow variable <0x${v.obj.toString(16)}, ${v.id.toString(16)}> at 0x${node.toString(16)} is in bucket ${bucket}, its object hashes to ${home}`,
      );
    if (!t.mem.contains(v.data, v.size))
      throw new ShadowTableError(`shadow variable at 0x${node.toString(16)}: ${v.size} bytes of data run outside RAM`);
    yield v;
    node = t.mem.u64(node + S.next);
  }
}

/** hash_for_each() over klp_shadow_hash: every shadow variable, bucket by bucket. */
export function* klpShadowForEach(t: Target, limit = 1_000_000): Generator<ShadowVariable> {
  const S = shadowLayout(t);
  for (let b = 0; b < S.buckets; b++) yield* bucketChain(t, b, limit);
}

/** klp_shadow_match(). */
export function klpShadowMatch(v: ShadowVariable, obj: bigint, id: bigint): boolean {
  return v.obj === obj && v.id === id;
}

/** klp_shadow_get(): the variable <obj, id> (its data is what the guest's call returns), or undefined. */
export function klpShadowGet(t: Target, obj: bigint, id: bigint, limit = 1_000_000): ShadowVariable | undefined {
  for (const v of bucketChain(t, klpShadowBucket(t, obj), limit)) if (klpShadowMatch(v, obj, id)) return v;
  return undefined;
}
