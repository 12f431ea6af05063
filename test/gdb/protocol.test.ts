// SPDX-License-Identifier: GPL-2.0-or-later
// The stub at the packet level, as gdb's own tests of a remote target would talk to it: the
// target description's features, Ctrl-C while the machine runs, and a detach that lets the
// session run on to its report.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checksum, escapeBinary, unescapeBinary } from '../../src/gdb/protocol.ts';
import { parseListenAddress } from '../../src/gdb/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A minimal gdb: sends packets, collects replies (no-ack mode after the first exchange). */
class Client {
  private buf = '';
  private waiters: (() => void)[] = [];
  constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(p: string): void {
    this.sock.write(`$${p}#${checksum(Buffer.from(p, 'latin1'))}`);
  }
  async reply(): Promise<string> {
    for (;;) {
      this.buf = this.buf.replace(/^\++/, '');
      const m = /^\$([^#]*)#[0-9a-f]{2}/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[1];
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  async ask(p: string): Promise<string> {
    this.send(p);
    return this.reply();
  }
}

describe('the stub on the wire', () => {
  it('frames and escapes as gdb does, and parses [HOST:]PORT', () => {
    expect(checksum(Buffer.from('qSupported'))).toBe('37');
    const bin = Buffer.from([0x23, 0x24, 0x7d, 0x2a, 0x41]);
    expect(unescapeBinary(escapeBinary(bin))).toEqual(bin);
    expect(parseListenAddress('1234')).toEqual({ host: '127.0.0.1', port: 1234 });
    expect(parseListenAddress('0.0.0.0:99')).toEqual({ host: '0.0.0.0', port: 99 });
    expect(() => parseListenAddress('70000')).toThrow(/not a TCP port/);
    expect(() => parseListenAddress('example.org:1')).toThrow(/not an IPv4 address/);
  });

  it('describes the registers with the segment bases, stops on Ctrl-C, and runs on after detach', async () => {
    const lab = spawn(process.execPath, [`${ROOT}bin/klp-lab.mjs`, 'boot', '--cpus', '2', '--ms', '3000', '--gdb', '0'], { cwd: ROOT });
    let out = '';
    lab.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => lab.on('exit', r));
    const port = await new Promise<number>((resolve) => {
      let err = '';
      lab.stderr.on('data', (d) => {
        err += d;
        const m = /waiting for gdb on [\d.]+:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
    });
    const sock = connect(port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    const c = new Client(sock);
    expect(await c.ask('qSupported:xmlRegisters=i386')).toMatch(/qXfer:features:read\+.*ReverseStep\+;ReverseContinue\+/);
    expect(await c.ask('QStartNoAckMode')).toBe('OK');
    let xml = '';
    for (;;) {
      const part = await c.ask(`qXfer:features:read:target.xml:${xml.length.toString(16)},400`);
      xml += part.slice(1);
      if (part[0] === 'l') break;
    }
    expect(xml).toContain('<architecture>i386:x86-64</architecture>');
    expect(xml).toMatch(/<feature name="org.gnu.gdb.i386.segments">\s*<reg name="fs_base"[^>]*\/>\s*<reg name="gs_base"/);
    expect(await c.ask('?')).toBe('T05thread:1;');
    expect(await c.ask('qfThreadInfo')).toBe('m1,2');
    // the register block: 16 GPRs, rip, eflags, 6 segments, 8 x87, 8 control, 16 xmm, mxcsr, 2 bases
    const g = await c.ask('g');
    expect(g.length / 2).toBe(16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 2 * 8);
    // Ctrl-C at once: on an idle host the whole 3 s session runs in well under a second
    c.send('vCont;c');
    sock.write('\x03');
    expect(await c.reply()).toMatch(/^T02thread:\d+;$/);
    // where it stopped: some rounds into the run
    const o = await c.ask('qRcmd,' + Buffer.from('position').toString('hex'));
    expect(o[0]).toBe('O');
    expect(Buffer.from(o.slice(1), 'hex').toString()).toMatch(/^instructions [1-9]\d* .* round [1-9]/);
    expect(await c.reply()).toBe('OK');
    expect(await c.ask('D')).toBe('OK');
    sock.end();
    expect(await exited).toBe(0);
    expect(out).toMatch(/ran 3000\.0 ms emulated/);
  });
});
