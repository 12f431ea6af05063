// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket of a running lab: a Unix socket, mode 0600, in a private runtime directory
 * (0700, under $XDG_RUNTIME_DIR when it is usable, else a mkdtemp in the temporary directory),
 * nothing on the network. A connection from another user is refused (SO_PEERCRED) even if the
 * modes were loosened.
 *
 * The protocol is JSON lines: one request object per line, one response per line with the
 * request's `id`, in order per connection. JSON because both ends are small (Node has it built
 * in; the C helper uses Debian's cJSON) and a human can talk to the lab with `socat - UNIX:...`.
 * File contents are strings whose characters are bytes (0..255), sent as \u00XX past ASCII, so
 * any byte sequence goes through unchanged.
 *
 *   {"id":1,"op":"stat","path":"/sys/kernel/livepatch"}   {"id":1,"ok":true,"kind":"dir","mode":493,"size":0}
 *   {"id":2,"op":"write","path":"...","data":"0\n"}       {"id":2,"ok":false,"errno":"EINVAL","strerror":"Invalid argument","message":"..."}
 *
 * Requests (kernelfs.ts and kmsg.ts do the work):
 *   hello                          {clockNs, cpus, pace}
 *   status {stacks?}               what the lab is doing (status.ts's LabStatus) and {pace, running}
 *   stat, readdir, open, read, write  on a path (open: access r|w|rw)
 *   fixed                          {entries: [{path, kind, mode, size, read, write}]}: the entries
 *                                  that exist, with these modes, as long as the lab runs, and
 *                                  whether open(2) may read and write each (a client may answer
 *                                  their stat and open itself)
 *   kmsg-read {seq, waitMs?, max?} the record at or after seq: {record, seq}; EAGAIN after waitMs
 *                                  without one; EPIPE {next} if it was dropped. With max, also
 *                                  {records}: it and the ones after it, at most max in all
 *   kmsg-write {data}              one record
 *   insmod {file, params?}         load an object file (name=value params): {name}
 *   rmmod {name}                   unload
 *   lsmod                          {modules: [{name, size, refcnt, usedBy}]}
 *   modinfo {file}                 an object's .modinfo: {entries: [[tag, value], ...]} in file order
 *   spawn {file, argv, pid}        a lab program as a user task with that pid (processes.ts): {pid};
 *                                  then the connection gets {event: "output", pid, fd, data} and
 *                                  {event: "exit", pid, status[, signal]} (signal: the one that ended
 *                                  it); if the connection closes first, the task is killed
 *   kill {pid, sig}                kill(2) of a guest task
 *   stop                           stop the lab; the response comes first
 * Requests that change the machine are applied through RunningLab.submit() and journaled; the
 * ones that only look (stat, readdir, open, fixed, kmsg-read, lsmod, hello, status) are answered directly.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfFile, errnoName, errnoValue, isErrno, modinfoEntries, ModuleError, strerror } from '../elf/index.ts';
import { ExecError, type ProcessIo } from '../kernel/index.ts';
import { KernelFiles, KernelFsError, normalizePath } from './kernelfs.ts';
import { Kmsg } from './kmsg.ts';
import { peerCred } from './peercred.ts';
import { DISCARD, ProcessStream, spawnRequest, killRequest } from './processes.ts';
import { labStatus } from './status.ts';
import type { RunningLab } from './running.ts';
import type { Lab } from './selftest.ts';

export type ControlRequest =
  | { id?: unknown; op: 'hello' | 'lsmod' | 'stop' | 'fixed' }
  | { id?: unknown; op: 'status'; stacks?: boolean }
  | { id?: unknown; op: 'stat' | 'readdir' | 'read'; path: string }
  | { id?: unknown; op: 'open'; path: string; access: 'r' | 'w' | 'rw' }
  | { id?: unknown; op: 'write'; path: string; data: string }
  | { id?: unknown; op: 'kmsg-read'; seq: number; waitMs?: number; max?: number }
  | { id?: unknown; op: 'kmsg-write'; data: string }
  | { id?: unknown; op: 'insmod'; file: string; params?: string[] }
  | { id?: unknown; op: 'rmmod'; name: string }
  | { id?: unknown; op: 'modinfo'; file: string }
  | { id?: unknown; op: 'spawn'; file: string; argv: string[]; pid: number }
  | { id?: unknown; op: 'kill'; pid: number; sig: number };

type Reply = Record<string, unknown>;

/** A request the protocol does not know or that lacks a field: EINVAL to the client. */
class ProtocolError extends Error {}

/** The longest line a client may send (a write of a whole dynamic debug query file fits). */
const MAX_LINE = 1 << 20;
/** The longest a kmsg-read may wait for a record. */
const MAX_WAIT_MS = 10_000;
/** The most records one kmsg-read answers with (each at most about 1 KiB). */
const MAX_KMSG_BATCH = 1024;

export interface ControlServerOptions {
  /** The directory to make the runtime directory in (default: $XDG_RUNTIME_DIR if usable, else the temporary directory). */
  runtimeBase?: string;
  /** The only uid allowed to connect (default: ours). */
  uid?: number;
  /** How many /dev/kmsg records are kept (Kmsg's default unless given). */
  kmsgCapacity?: number;
}

/** A /dev/kmsg reader wanted a record that was dropped: `next` is the oldest kept. */
class KmsgDroppedError extends KernelFsError {
  constructor(
    seq: number,
    readonly next: number,
  ) {
    super('EPIPE', '/dev/kmsg', `record ${seq} was dropped; the oldest kept is ${next}`);
  }
}

/** Where a private runtime directory goes: $XDG_RUNTIME_DIR when it is ours and 0700. */
function runtimeBase(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) {
    try {
      const st = statSync(xdg);
      if (st.isDirectory() && st.uid === process.getuid!() && (st.mode & 0o777) === 0o700) return xdg;
    } catch {
      // not usable: fall back to the temporary directory
    }
  }
  return tmpdir();
}

/**
 * Removes the runtime directories of labs that died without removing theirs (kill -9): ours, and
 * named after a process that no longer exists.
 */
function sweepStale(base: string): void {
  for (const name of readdirSync(base)) {
    const m = /^klp-lab-(\d+)-\w{6}$/.exec(name);
    if (!m) continue;
    const dir = join(base, name);
    try {
      if (statSync(dir).uid !== process.getuid!()) continue;
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The control sockets of the labs running now under `base` (default: where a new lab would put
 * its own): ours, named after a live process, oldest directory first. How `klp-lab top` finds the
 * lab that `klp-lab shell` started.
 */
export function runningLabSockets(base: string = runtimeBase()): string[] {
  const found: { path: string; mtimeMs: number }[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  for (const name of names) {
    const m = /^klp-lab-(\d+)-\w{6}$/.exec(name);
    if (!m) continue;
    const dir = join(base, name);
    try {
      const st = statSync(dir);
      if (st.uid !== process.getuid!() || !statSync(join(dir, 'control')).isSocket()) continue;
      process.kill(Number(m[1]), 0);
      found.push({ path: join(dir, 'control'), mtimeMs: st.mtimeMs });
    } catch {
      // no socket, or its lab is gone: not a running lab
    }
  }
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs).map((f) => f.path);
}

/** What a request does to the lab (pure: the same request on the same machine state does the same). */
export function applyRequest(lab: Lab, files: KernelFiles, kmsg: Kmsg, req: ControlRequest, io: ProcessIo = DISCARD): Reply {
  switch (req.op) {
    case 'read':
      return { data: files.read(str(req.path, 'path')) };
    case 'write': {
      const path = str(req.path, 'path');
      const data = str(req.data, 'data');
      if (normalizePath(path) === '/dev/kmsg') kmsg.write(data);
      else files.write(path, data);
      return { written: data.length };
    }
    case 'kmsg-write':
      kmsg.write(str(req.data, 'data'));
      return {};
    case 'insmod': {
      const params: Record<string, string> = {};
      for (const p of req.params ?? []) {
        const eq = str(p, 'params').indexOf('=');
        params[eq < 0 ? p : p.slice(0, eq)] = eq < 0 ? '' : p.slice(eq + 1);
      }
      return { name: lab.modules.load(str(req.file, 'file'), params).name };
    }
    case 'rmmod':
      lab.modules.unload(str(req.name, 'name'));
      return {};
    case 'spawn':
      return spawnRequest(lab, req, io);
    case 'kill':
      return killRequest(lab, req);
    default:
      throw new ProtocolError(`op '${req.op}' is not applied to the machine`);
  }
}

/** An object file; a missing one is ENOENT, a damaged one what the reader says. */
function readObject(file: string): ElfFile {
  try {
    return ElfFile.read(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KernelFsError('ENOENT', file, 'No such file or directory');
    if ((e as NodeJS.ErrnoException).code === 'EACCES') throw new KernelFsError('EACCES', file, 'Permission denied');
    throw new KernelFsError('ENOEXEC', file, (e as Error).message);
  }
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new ProtocolError(`field '${field}' must be a string`);
  return v;
}

export class ControlServer {
  readonly dir: string;
  readonly path: string;
  readonly files: KernelFiles;
  readonly kmsg: Kmsg;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly uid: number;
  private closed = false;
  /** Resolves when a client asked the lab to stop. */
  readonly stopRequested: Promise<void>;
  private onStop!: () => void;

  private constructor(
    readonly running: RunningLab,
    opts: ControlServerOptions,
  ) {
    this.uid = opts.uid ?? process.getuid!();
    this.files = new KernelFiles(running.lab, { generation: () => running.generation });
    this.kmsg = new Kmsg(running.lab.k, opts.kmsgCapacity);
    this.stopRequested = new Promise((r) => (this.onStop = r));
    const base = opts.runtimeBase ?? runtimeBase();
    sweepStale(base);
    this.dir = mkdtempSync(join(base, `klp-lab-${process.pid}-`));
    chmodSync(this.dir, 0o700);
    this.path = join(this.dir, 'control');
    this.server = createServer((s) => this.connection(s));
  }

  /** Listens on a fresh runtime directory's `control` socket. */
  static async listen(running: RunningLab, opts: ControlServerOptions = {}): Promise<ControlServer> {
    const c = new ControlServer(running, opts);
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        c.server.once('error', reject);
        c.server.listen(c.path, () => resolve());
      });
    } catch (e) {
      rmSync(c.dir, { recursive: true, force: true });
      throw e;
    } finally {
      process.umask(umask);
    }
    chmodSync(c.path, 0o600);
    return c;
  }

  /** Closes every connection and the socket, and removes the runtime directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private connection(s: Socket): void {
    let cred;
    try {
      cred = peerCred(s);
    } catch {
      cred = undefined;
    }
    if (!cred || cred.uid !== this.uid) {
      const who = cred ? `uid ${cred.uid} (pid ${cred.pid})` : 'an unknown peer';
      s.end(
        JSON.stringify({
          ok: false,
          errno: 'EACCES',
          message: `the lab's control socket refuses ${who}: only uid ${this.uid} may connect`,
        }) + '\n',
      );
      return;
    }
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = '';
    // one request at a time per connection, so responses keep the order of the requests
    let chain = Promise.resolve();
    s.setEncoding('latin1');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        s.end(JSON.stringify({ ok: false, errno: 'EINVAL', message: `request longer than ${MAX_LINE} bytes` }) + '\n');
        buf = '';
        return;
      }
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        chain = chain.then(() => this.answer(line, s).then((r) => void (s.writable && s.write(encode(r)))));
      }
    });
  }

  private async answer(line: string, s: Socket): Promise<Reply> {
    let req: ControlRequest;
    try {
      // the line is latin1-decoded bytes: turn UTF-8 text back into characters before parsing
      req = JSON.parse(Buffer.from(line, 'latin1').toString('utf8')) as ControlRequest;
      if (typeof req !== 'object' || req === null || typeof req.op !== 'string')
        throw new ProtocolError('a request is an object with an op');
    } catch (e) {
      return { ok: false, errno: 'EINVAL', message: `bad request: ${(e as Error).message}` };
    }
    const id = req.id;
    try {
      return { id, ok: true, ...(await this.handle(req, s)) };
    } catch (e) {
      return { id, ok: false, ...failure(e) };
    }
  }

  private async handle(req: ControlRequest, s: Socket): Promise<Reply> {
    const r = this.running;
    switch (req.op) {
      case 'hello':
        return { clockNs: r.clockNs, cpus: r.lab.k.nrCpus, pace: r.pace, running: r.isRunning };
      case 'status':
        return { pace: r.pace, running: r.isRunning, ...labStatus(r.lab, { stacks: req.stacks === true }) };
      case 'stat':
        return { ...this.files.stat(str(req.path, 'path')) };
      case 'readdir':
        return { entries: this.files.readdir(str(req.path, 'path')) };
      case 'fixed':
        return { entries: this.files.fixed() };
      case 'open':
        this.files.open(str(req.path, 'path'), req.access === 'w' || req.access === 'rw' ? req.access : 'r');
        return {};
      case 'kmsg-read':
        return this.kmsgRead(req.seq, Math.min(Math.max(Number(req.waitMs) || 0, 0), MAX_WAIT_MS), req.max);
      case 'modinfo':
        return { entries: modinfoEntries(readObject(str(req.file, 'file'))) };
      case 'lsmod':
        return {
          modules: r.lab.modules.list().map((m) => ({
            name: m.name,
            size: m.size,
            refcnt: m.refcount,
            usedBy: [...m.usedBy].map((u) => u.name),
          })),
        };
      case 'stop':
        // after this answer is on its way: whoever waits for the stop may close the socket
        setImmediate(() => {
          this.onStop();
          void r.stop();
        });
        return {};
      case 'read':
      case 'write':
      case 'kmsg-write':
      case 'insmod':
      case 'rmmod':
      case 'kill':
        return r.submit(req, (lab, q) => applyRequest(lab, this.files, this.kmsg, q));
      case 'spawn': {
        const stream = new ProcessStream(s, encode, req.pid);
        const reply = await r.submit(req, (lab, q) => applyRequest(lab, this.files, this.kmsg, q, stream));
        // the host process went away first (kill -9): its task goes with it
        const sigkill = r.lab.k.layout.constant('SIGKILL');
        stream.onOrphaned(() => void this.handle({ op: 'kill', pid: req.pid, sig: sigkill }, s).catch(() => {}));
        return reply;
      }
      default:
        throw new ProtocolError(`unknown op '${(req as { op: string }).op}'`);
    }
  }

  /**
   * A kmsg record, waiting up to waitMs for one to be logged; with `max`, the records after it
   * too: a reader such as dmesg takes the whole log one record per read(2), and a batch spares
   * the FUSE helper a round trip per record.
   */
  private kmsgRead(seq: unknown, waitMs: number, max: unknown): Promise<Reply> {
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) throw new ProtocolError("field 'seq' must be a whole number");
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_KMSG_BATCH))
      throw new ProtocolError(`field 'max' must be a whole number from 1 to ${MAX_KMSG_BATCH}`);
    const attempt = (): Reply | undefined => {
      const r = this.kmsg.read(seq);
      if ('record' in r) {
        const first = Kmsg.format(r.record);
        if (max === undefined) return { record: first, seq: r.record.seq };
        const records = [first];
        while (records.length < max) {
          const next = this.kmsg.read(r.record.seq + records.length);
          if (!('record' in next)) break;
          records.push(Kmsg.format(next.record));
        }
        return { record: first, seq: r.record.seq, records };
      }
      if (r.errno === 'EPIPE') throw new KmsgDroppedError(seq, r.next);
      return undefined;
    };
    const now = attempt();
    if (now || !waitMs || !this.running.isRunning) {
      if (now) return Promise.resolve(now);
      throw new KernelFsError('EAGAIN', '/dev/kmsg', 'no new record');
    }
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        unwatch();
        fn();
      };
      const unwatch = this.running.watch(() => {
        try {
          const r = attempt();
          if (r) done(() => resolve(r));
          else if (!this.running.isRunning) done(() => reject(new KernelFsError('EAGAIN', '/dev/kmsg', 'no new record')));
        } catch (e) {
          done(() => reject(e));
        }
      });
      const timer = setTimeout(() => done(() => reject(new KernelFsError('EAGAIN', '/dev/kmsg', 'no new record'))), waitMs);
    });
  }
}

/** The errno and message a refused request gets. */
function failure(err: unknown): { errno: string; strerror: string; message: string; next?: number } {
  // a load that failed in several ways (an init error and a cleanup error) reports the first
  const e = err instanceof AggregateError && err.errors.length ? err.errors[0] : err;
  const message = (e as Error)?.message ?? String(e);
  let errno = 'EIO';
  if (e instanceof KernelFsError || e instanceof ExecError) errno = e.errno;
  else if (e instanceof ModuleError) errno = isErrno(e.errno) ? e.errno : errnoName(e.code);
  else if (e instanceof ProtocolError) errno = 'EINVAL';
  // glibc's text, as the commands print it (cat: ...: Permission denied)
  const out = { errno, strerror: strerror(errnoValue(errno)), message };
  return e instanceof KmsgDroppedError ? { ...out, next: e.next } : out;
}

/** One response line, ASCII only: characters past 0x7e as \u00XX (and beyond, as JSON says). */
function encode(r: Reply): string {
  return JSON.stringify(r).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}
