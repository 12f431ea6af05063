// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reading a /proc file as seq_read() does for one page: the file's show function, int
 * show(struct seq_file *m, void *v), is called in a task with a seq_file over a buffer in
 * host-managed memory, and what it printed is the file's text. The show functions are the
 * kernel's (cmdline_proc_show, meminfo_proc_show, ...), so livepatches written for Linux
 * replace them as they are.
 */
import { callGuest, type HostTask } from './hostcall.ts';
import type { Kernel } from './kernel.ts';

/** The show function failed (a negative errno) or printed more than the buffer holds. */
export class SeqReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeqReadError';
  }
}

/** The buffer seq_read() starts with: a page. */
export const SEQ_BUF_SIZE = 4096;

/** A host task: show(m, NULL) over a fresh seq_file; returns the text, or throws SeqReadError. */
export function* seqRead(k: Kernel, show: bigint, what: string): HostTask<string> {
  const L = k.layout;
  const m = k.hostMem.alloc(L.sizeof('seq_file'), 16, `seq_file for ${what}`);
  let buf: bigint | undefined;
  try {
    buf = k.hostMem.alloc(SEQ_BUF_SIZE, 16, `seq_file buffer for ${what}`);
    k.mem.setU64(m + BigInt(L.offset('seq_file', 'buf')), buf);
    k.mem.setU64(m + BigInt(L.offset('seq_file', 'size')), BigInt(SEQ_BUF_SIZE));
    const ret = BigInt.asIntN(32, yield* callGuest(show, m, 0n));
    if (ret < 0n) throw new SeqReadError(`${what}: show function returned ${ret}`);
    const count = k.mem.u64(m + BigInt(L.offset('seq_file', 'count')));
    if (count > BigInt(SEQ_BUF_SIZE)) throw new SeqReadError(`${what}: ${count} bytes do not fit the ${SEQ_BUF_SIZE}-byte buffer`);
    return Buffer.from(k.mem.bytes(buf, Number(count))).toString('latin1');
  } finally {
    if (buf !== undefined) k.hostMem.release(buf);
    k.hostMem.release(m);
  }
}
