// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Circular doubly linked lists in guest memory (include/linux/list.h's struct list_head), for
 * the lists the host edits or walks while the guest may walk them too. The host runs with every
 * vCPU stopped, but a stopped vCPU can be in the middle of a walk: the RCU forms below write
 * the links in the order that keeps such a walker on a whole list, as the kernel's do.
 */
import type { Target } from './task.ts';

export class ListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListError';
  }
}

interface ListOffsets {
  next: bigint;
  prev: bigint;
}

const listOffsets = new WeakMap<Target['layout'], ListOffsets>();
/** offsetof(struct list_head, next/prev), read once per layout. */
function offsets(t: Target): ListOffsets {
  let o = listOffsets.get(t.layout);
  if (!o)
    listOffsets.set(
      t.layout,
      (o = { next: BigInt(t.layout.offset('list_head', 'next')), prev: BigInt(t.layout.offset('list_head', 'prev')) }),
    );
  return o;
}

/** INIT_LIST_HEAD(): an empty list points at itself both ways. */
export function initListHead(t: Target, head: bigint): void {
  const o = offsets(t);
  t.mem.setU64(head + o.next, head);
  t.mem.setU64(head + o.prev, head);
}

/** list_empty() */
export function listEmpty(t: Target, head: bigint): boolean {
  return t.mem.u64(head + offsets(t).next) === head;
}

/** list_is_singular(): exactly one node on the list. */
export function listIsSingular(t: Target, head: bigint): boolean {
  const next = offsets(t).next;
  const first = t.mem.u64(head + next);
  return first !== head && t.mem.u64(first + next) === head;
}

/** node->next: the following node, or the head after the last one. */
export function listNext(t: Target, node: bigint): bigint {
  return t.mem.u64(node + offsets(t).next);
}

/**
 * list_add_rcu(): node goes first, right after head. The node's own links are complete before
 * head->next publishes it, so a walker never follows a half-made node.
 */
export function listAddRcu(t: Target, node: bigint, head: bigint): void {
  const o = offsets(t);
  const m = t.mem;
  const next = m.u64(head + o.next);
  m.setU64(node + o.next, next);
  m.setU64(node + o.prev, head);
  m.setU64(next + o.prev, node);
  m.setU64(head + o.next, node);
}

/**
 * list_del_rcu(): node leaves the list, but keeps its next link, so a walker that stands on it
 * still finds its way on. Its memory may be reused only after a grace period.
 */
export function listDelRcu(t: Target, node: bigint): void {
  const o = offsets(t);
  const m = t.mem;
  const next = m.u64(node + o.next);
  const prev = m.u64(node + o.prev);
  m.setU64(next + o.prev, prev);
  m.setU64(prev + o.next, next);
}

/**
 * list_for_each(): the address of every node after head, in list order. A corrupt list (a link
 * outside RAM, a loop that never comes back to head) is a ListError naming `what`, not a hang.
 */
export function* listForEach(t: Target, head: bigint, what: string, limit = 1_000_000): Generator<bigint> {
  const next = offsets(t).next;
  let node = t.mem.u64(head + next);
  for (let n = 0; node !== head; n++) {
    if (n >= limit) throw new ListError(`${what} longer than ${limit} entries: corrupt or looping`);
    if (!t.mem.contains(node, 16)) throw new ListError(`${what}: link 0x${node.toString(16)} points outside RAM`);
    yield node;
    node = t.mem.u64(node + next);
  }
}
