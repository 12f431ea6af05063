// SPDX-License-Identifier: GPL-2.0-or-later
// A client of a running lab's control socket, speaking its JSON lines as the FUSE helper does.
import { createConnection, type Socket } from 'node:net';

export type Answer = Record<string, unknown> & { ok: boolean; errno?: string; message?: string };

export interface ControlClient {
  /** Sends one request and resolves to the lab's answer. */
  call(req: Record<string, unknown>): Promise<Answer>;
  /** Resolves to the next line the lab sends unasked (a refusal), or undefined when it closes. */
  unasked(): Promise<Answer | undefined>;
  close(): void;
  readonly socket: Socket;
}

export function connect(path: string): Promise<ControlClient> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buf = '';
    const waiting: { res: (a: Answer | undefined) => void; rej: (e: Error) => void; optional?: boolean }[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        waiting.shift()?.res(JSON.parse(line) as Answer);
      }
    });
    socket.on('close', () => {
      for (const w of waiting.splice(0)) {
        if (w.optional) w.res(undefined);
        else w.rej(new Error('the lab closed the connection'));
      }
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        socket,
        call: (req) =>
          new Promise((res, rej) => {
            waiting.push({ res: res as (a: Answer | undefined) => void, rej });
            socket.write(JSON.stringify(req) + '\n');
          }),
        unasked: () => new Promise((res, rej) => waiting.push({ res, rej, optional: true })),
        close: () => socket.destroy(),
      }),
    );
  });
}
