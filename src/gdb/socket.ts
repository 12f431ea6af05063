// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A blocking TCP connection, through libc by koffi. The stub talks to gdb from inside the
 * machine's run -- a breakpoint stops a vCPU deep in a synchronous call of the session, and the
 * debugger must be answered before that call returns -- so Node's event-driven sockets, which
 * only deliver data once the stack has unwound, cannot serve it. Plain blocking recv/send can.
 */
import koffi from 'koffi';
import { errnoValue } from '../elf/index.ts';

const EINTR = errnoValue('EINTR');

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const MSG_NOSIGNAL = 0x4000;
const POLLIN = 1;

const libc = koffi.load('libc.so.6');
const c = {
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, int *value, uint32_t len)'),
  bind: libc.func('int bind(int fd, uint8_t *addr, uint32_t len)'),
  listen: libc.func('int listen(int fd, int backlog)'),
  accept: libc.func('int accept(int fd, void *addr, void *len)'),
  getsockname: libc.func('int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *len)'),
  recv: libc.func('intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)'),
  send: libc.func('intptr_t send(int fd, uint8_t *buf, size_t len, int flags)'),
  poll: libc.func('int poll(_Inout_ uint8_t *fds, unsigned long n, int timeout)'),
  close: libc.func('int close(int fd)'),
  strerror: libc.func('const char *strerror(int errnum)'),
};

export class GdbSocketError extends Error {
  constructor(what: string, errno?: number) {
    super(errno === undefined ? what : `${what}: ${c.strerror(errno) as string}`);
    this.name = 'GdbSocketError';
  }
}

/** Where the stub listens: an IPv4 address (dotted quad, or localhost) and a port (0: any free one). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `[HOST:]PORT`; the host is loopback unless one is given. Throws a RangeError naming the problem. */
export function parseListenAddress(arg: string): ListenAddress {
  const i = arg.lastIndexOf(':');
  const host = i < 0 ? '127.0.0.1' : arg.slice(0, i) === 'localhost' ? '127.0.0.1' : arg.slice(0, i);
  const portText = i < 0 ? arg : arg.slice(i + 1);
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new RangeError(`'${portText}' is not a TCP port (0..65535)`);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.split('.').some((b) => Number(b) > 255))
    throw new RangeError(`'${host}' is not an IPv4 address (such as 127.0.0.1) or localhost`);
  return { host, port: Number(portText) };
}

function sockaddr(a: ListenAddress): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(a.port, 2);
  a.host.split('.').forEach((x, i) => (b[4 + i] = Number(x)));
  return b;
}

function retry(f: () => number, what: string): number {
  for (;;) {
    const r = Number(f());
    if (r >= 0) return r;
    const e = koffi.errno();
    if (e !== EINTR) throw new GdbSocketError(what, e);
  }
}

/** A listening socket; accept() blocks until gdb connects. */
export class GdbListener {
  readonly fd: number;
  readonly address: ListenAddress;

  constructor(at: ListenAddress) {
    this.fd = retry(() => c.socket(AF_INET, SOCK_STREAM, 0) as number, 'socket');
    try {
      c.setsockopt(this.fd, SOL_SOCKET, SO_REUSEADDR, [1], 4);
      retry(() => c.bind(this.fd, sockaddr(at), 16) as number, `bind ${at.host}:${at.port}`);
      retry(() => c.listen(this.fd, 1) as number, 'listen');
      const out = Buffer.alloc(16);
      retry(() => c.getsockname(this.fd, out, [16]) as number, 'getsockname');
      this.address = { host: at.host, port: out.readUInt16BE(2) };
    } catch (e) {
      c.close(this.fd);
      throw e;
    }
  }

  accept(): GdbConnection {
    const fd = retry(() => c.accept(this.fd, null, null) as number, 'accept');
    c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, [1], 4);
    return new GdbConnection(fd);
  }

  close(): void {
    c.close(this.fd);
  }
}

/** One debugger's connection: blocking reads and writes, and a look for pending input that does not block. */
export class GdbConnection {
  private readonly buf = Buffer.alloc(65536);
  closed = false;

  constructor(readonly fd: number) {}

  /** Blocks for at least one byte; an empty result: the debugger hung up. */
  read(): Buffer {
    if (this.closed) return Buffer.alloc(0);
    const n = retry(() => c.recv(this.fd, this.buf, this.buf.length, 0) as number, 'recv');
    if (n === 0) this.closed = true;
    return Buffer.from(this.buf.subarray(0, n));
  }

  /** Whether a read would not block (data, or the end of the connection). */
  readable(): boolean {
    if (this.closed) return false;
    const pfd = Buffer.alloc(8);
    pfd.writeInt32LE(this.fd, 0);
    pfd.writeInt16LE(POLLIN, 4);
    return retry(() => c.poll(pfd, 1, 0) as number, 'poll') > 0;
  }

  write(data: string | Buffer): void {
    if (this.closed) return;
    let b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    while (b.length) {
      const n = Number(c.send(this.fd, b, b.length, MSG_NOSIGNAL));
      if (n < 0) {
        if (koffi.errno() === EINTR) continue;
        this.closed = true; // the debugger went away: the session runs on without it
        return;
      }
      b = b.subarray(n);
    }
  }

  close(): void {
    if (this.fd >= 0) c.close(this.fd);
    this.closed = true;
  }
}
