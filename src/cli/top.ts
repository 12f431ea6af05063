// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab top [--socket PATH]`: a live view of a running lab (the one `klp-lab shell` started),
 * redrawn four times a second from its control socket's `status`: the vCPUs, the patch in
 * transition with its pending count and blockers, the tasks. `q` (or ^C) quits; the terminal is
 * given back as it was (alternate screen). With no terminal on stdout it prints one frame and
 * exits, as `top -b -n 1` does.
 *
 * Which lab: --socket, else $KLP_SOCKET (set in the shell's bash, so `klp-lab top` inside it
 * finds its own lab), else the one running lab in the runtime directory; with several, the
 * user names one.
 */
import { createConnection, type Socket } from 'node:net';
import { Command, Option } from 'commander';
import { runningLabSockets, type LabStatus } from '../lab/index.ts';
import { renderStatus, type RunningInfo } from './top-view.ts';
import { AltScreen, termSize, ttyOf } from './terminal.ts';

/** How often the view asks for a new status (host ms). */
const REFRESH_MS = 250;
/** How long a status may take before the lab is taken for hung (host ms). */
const ANSWER_TIMEOUT_MS = 10_000;

export interface TopFlags {
  socket?: string;
}

export class TopError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopError';
  }
}

/** The control socket to look at: --socket, $KLP_SOCKET, or the only running lab's. */
export function findLabSocket(flags: TopFlags, env: NodeJS.ProcessEnv = process.env): string {
  if (flags.socket) return flags.socket;
  if (env.KLP_SOCKET) return env.KLP_SOCKET;
  const found = runningLabSockets();
  if (found.length === 1) return found[0];
  if (!found.length) throw new TopError('no running lab found (start one with `klp-lab shell`, or give --socket PATH)');
  throw new TopError(`${found.length} labs are running; name one with --socket: ${found.join(', ')}`);
}

type StatusAnswer = LabStatus & RunningInfo & { ok: boolean; message?: string };

/** A connection to a lab's control socket that asks for one status at a time. */
class StatusClient {
  private buf = '';
  private waiting?: { resolve: (a: StatusAnswer) => void; reject: (e: Error) => void };
  private ended?: Error;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiting;
        this.waiting = undefined;
        w?.resolve(JSON.parse(line) as StatusAnswer);
      }
    });
    const end = (e: Error) => {
      this.ended ??= e;
      this.waiting?.reject(this.ended);
      this.waiting = undefined;
    };
    socket.on('close', () => end(new TopError('the lab has stopped')));
    socket.on('error', (e) => end(new TopError(`the lab's socket: ${e.message}`)));
  }

  static connect(path: string): Promise<StatusClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(new TopError(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no lab listens on ${path}` : `${path}: ${e.message}`)),
      );
      s.once('connect', () => resolve(new StatusClient(s)));
    });
  }

  status(): Promise<StatusAnswer> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TopError(`the lab did not answer in ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
      this.waiting = {
        resolve: (a) => {
          clearTimeout(timer);
          if (a.ok) resolve(a);
          else reject(new TopError(`the lab refused the status: ${a.message ?? 'no reason given'}`));
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket.write('{"op":"status"}\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

const FOOTER = 'q quit';
/** q, Q, ^C (raw mode delivers it as a key), ^D. */
const QUIT_KEYS = ['q', 'Q', '\x03', '\x04'];

export async function topCommand(flags: TopFlags): Promise<number> {
  let path: string;
  let client: StatusClient;
  try {
    path = findLabSocket(flags);
    client = await StatusClient.connect(path);
  } catch (e) {
    if (!(e instanceof TopError)) throw e;
    process.stderr.write(`klp-lab: error: ${e.message}\n`);
    return 1;
  }
  const view = { title: 'klp-lab top', subtitle: `lab ${path}` };
  const tty = ttyOf(process.stdout);
  if (!tty) {
    // one frame for a pipe or a file, at the terminal size a person would read it in
    try {
      const s = await client.status();
      process.stdout.write(renderStatus(s, { width: 80, height: 24, ...view }).join('\n') + '\n');
      return 0;
    } catch (e) {
      if (!(e instanceof TopError)) throw e;
      process.stderr.write(`klp-lab: error: ${e.message}\n`);
      return 1;
    } finally {
      client.close();
    }
  }
  return runView(client, tty, view);
}

/** Redraws until `q`, ^C, a signal, or the lab going away; gives the terminal back in every case. */
async function runView(
  client: StatusClient,
  tty: NonNullable<ReturnType<typeof ttyOf>>,
  view: { title: string; subtitle: string },
): Promise<number> {
  const screen = new AltScreen(tty);
  const stdin = process.stdin;
  let last: StatusAnswer | undefined;
  let quit!: (status: number, message?: string) => void;
  const done = new Promise<{ status: number; message?: string }>((r) => (quit = (status, message) => r({ status, message })));
  const draw = () => {
    if (last) screen.draw(renderStatus(last, { ...termSize(tty), ...view, footer: FOOTER }));
  };
  const onKey = (key: string) => {
    if ([...key].some((c) => QUIT_KEYS.includes(c))) quit(0);
  };
  const onSignal = () => quit(0);
  const restore = () => screen.leave();
  screen.enter();
  process.on('exit', restore);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  tty.on('resize', draw);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.on('data', onKey);
  stdin.resume();
  let timer: NodeJS.Timeout | undefined;
  const refresh = async () => {
    try {
      last = await client.status();
      draw();
      timer = setTimeout(() => void refresh(), REFRESH_MS);
    } catch (e) {
      quit(e instanceof TopError && e.message === 'the lab has stopped' ? 0 : 1, (e as Error).message);
    }
  };
  void refresh();
  const end = await done;
  clearTimeout(timer);
  client.close();
  stdin.off('data', onKey);
  if (stdin.isTTY) stdin.setRawMode(false);
  stdin.pause();
  tty.off('resize', draw);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  process.off('exit', restore);
  screen.leave();
  if (end.message) process.stderr.write(`klp-lab: ${end.status ? 'error: ' : ''}${end.message}\n`);
  return end.status;
}

/** The top command, added to the program; `run` receives its exit status. */
export function addTopCommand(prog: Command, run: (status: Promise<number>) => Promise<void>): Command {
  return prog
    .command('top')
    .description("a live view of a running lab (klp-lab shell's): vCPUs, tasks, the transition's progress and blockers; q quits")
    .addOption(new Option('--socket <PATH>', "the lab's control socket (default: $KLP_SOCKET, else the one running lab's)"))
    .action((flags: TopFlags) => run(topCommand(flags)));
}
