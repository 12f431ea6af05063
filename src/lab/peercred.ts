// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who is at the other end of a Unix socket: SO_PEERCRED, read with getsockopt(2) through koffi
 * (Node does not expose it). The control socket's directory and mode already keep other users
 * out; this check also holds when they are loosened by mistake, and names the intruder.
 */
import type { Socket } from 'node:net';
import koffi from 'koffi';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

const libc = koffi.load('libc.so.6');
const getsockopt = libc.func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)');

export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** The credentials of the process that connected `socket` (a Unix socket); throws if the kernel will not say. */
export function peerCred(socket: Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('peer credentials: the socket has no file descriptor');
  const cred = Buffer.alloc(12);
  const len = [12];
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0 || len[0] !== 12)
    throw new Error(`peer credentials: getsockopt(SO_PEERCRED) failed on fd ${fd}`);
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}
