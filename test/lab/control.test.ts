// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket of a running lab (src/lab/control.ts): a 0600 socket in a 0700 runtime
// directory that refuses other users, and the kernel's files behind it (kernelfs.ts, kmsg.ts)
// with the kernel's modes, contents and errnos.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningLab } from '../../src/lab/running.ts';
import { ControlServer } from '../../src/lab/control.ts';
import { FIXTURES } from '../../src/lab/selftest.ts';
import { connect, type ControlClient } from './helpers.ts';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function lab(
  opts: Parameters<typeof ControlServer.listen>[1] = {},
): Promise<{ r: RunningLab; server: ControlServer; c: ControlClient }> {
  const r = await RunningLab.start({ cpus: 2 });
  open.push(r);
  const server = await ControlServer.listen(r, opts);
  open.push(server);
  const c = await connect(server.path);
  open.push(c);
  return { r, server, c };
}

describe('the control socket', () => {
  it('is a 0600 socket in a 0700 directory under $XDG_RUNTIME_DIR, removed on close', async () => {
    const xdg = mkdtempSync(join(tmpdir(), 'xdg-'));
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = xdg;
    try {
      const { server } = await lab();
      expect(server.path.startsWith(`${xdg}/klp-lab-`)).toBe(true);
      expect(statSync(server.dir).mode & 0o777).toBe(0o700);
      expect(statSync(server.path).isSocket()).toBe(true);
      expect(statSync(server.path).mode & 0o777).toBe(0o600);
      await server.close();
      expect(existsSync(server.dir)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
      rmSync(xdg, { recursive: true, force: true });
    }
  });

  it('cannot be reached by another user', async () => {
    const { server } = await lab();
    const probe = `require('net').createConnection(${JSON.stringify(server.path)}).on('error', (e) => { console.log(e.code); process.exit(0); }).on('connect', () => { console.log('connected'); process.exit(0); })`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('EACCES');
  });

  it('refuses a peer of another uid even when the modes let it in (SO_PEERCRED)', async () => {
    const { c } = await lab({ uid: 4242 });
    const refusal = await c.unasked();
    expect(refusal).toMatchObject({ ok: false, errno: 'EACCES' });
    expect(refusal!.message).toMatch(new RegExp(`refuses uid ${process.getuid!()} \\(pid ${process.pid}\\): only uid 4242 may connect`));
  });

  it('stops the lab on request, answering first', async () => {
    const { r, server, c } = await lab();
    expect(await c.call({ id: 'x', op: 'stop' })).toEqual({ id: 'x', ok: true });
    await server.stopRequested;
    expect(await r.stopped).toEqual({ kind: 'request' });
  });

  it('answers a bad request with EINVAL and goes on', async () => {
    const { c } = await lab();
    c.socket.write('not json\n');
    expect(await c.unasked()).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(await c.call({ op: 'nope' })).toMatchObject({ ok: false, errno: 'EINVAL', message: "unknown op 'nope'" });
    expect(await c.call({ op: 'read' })).toMatchObject({ ok: false, errno: 'EINVAL', message: "field 'path' must be a string" });
    expect(await c.call({ op: 'hello' })).toMatchObject({ ok: true, cpus: 2, pace: 'free', running: true });
  });
});

describe("the kernel's files", () => {
  it('/sys/kernel/livepatch with the kernel modes, and its errnos', async () => {
    const { c } = await lab();
    expect(await c.call({ op: 'insmod', file: `${FIXTURES}test_klp_livepatch.ko` })).toMatchObject({
      ok: true,
      name: 'test_klp_livepatch',
    });
    const dir = '/sys/kernel/livepatch/test_klp_livepatch';
    const modes: Record<string, number> = {};
    for (const e of (await c.call({ op: 'readdir', path: dir })).entries as { name: string; mode: number }[]) modes[e.name] = e.mode;
    expect(modes).toEqual({ enabled: 0o644, transition: 0o444, force: 0o200, replace: 0o444, stack_order: 0o444, vmlinux: 0o755 });
    expect(await c.call({ op: 'read', path: `${dir}/enabled` })).toMatchObject({ ok: true, data: '1\n' });
    expect(await c.call({ op: 'open', path: `${dir}/force`, access: 'r' })).toMatchObject({ ok: false, errno: 'EACCES' });
    expect(await c.call({ op: 'open', path: `${dir}/transition`, access: 'w' })).toMatchObject({ ok: false, errno: 'EACCES' });
    expect(await c.call({ op: 'write', path: `${dir}/enabled`, data: 'x\n' })).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(await c.call({ op: 'stat', path: `${dir}/nope` })).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect(await c.call({ op: 'read', path: dir })).toMatchObject({ ok: false, errno: 'EISDIR' });
    expect(await c.call({ op: 'insmod', file: `${FIXTURES}test_klp_livepatch.ko` })).toMatchObject({ ok: false, errno: 'EEXIST' });
    expect(await c.call({ op: 'insmod', file: '/nonexistent.ko' })).toMatchObject({ ok: false, errno: 'ENOENT' });
  });

  it('builds its tree of entries once while the machine stands still, and anew after a request', async () => {
    // a pace this slow runs no slice during the test: only the requests change the machine
    const r = await RunningLab.start({ cpus: 2, pace: 1e-9 });
    open.push(r);
    const server = await ControlServer.listen(r);
    open.push(server);
    const c = await connect(server.path);
    open.push(c);
    const builds = vi.spyOn(r.lab.lp, 'sysfsTree');
    const dir = '/sys/kernel/livepatch/test_klp_livepatch';
    const walk = ['/sys', '/sys/kernel', '/sys/kernel/livepatch', dir];
    const before = await Promise.all(walk.concat(walk).map((path) => c.call({ op: 'stat', path })));
    expect(before.map((a) => a.ok)).toEqual([true, true, true, false, true, true, true, false]);
    expect(builds).toHaveBeenCalledTimes(1);
    // the load changes the tree: the next walk sees the patch's directory
    expect(await c.call({ op: 'insmod', file: `${FIXTURES}test_klp_livepatch.ko` })).toMatchObject({ ok: true });
    const after = await Promise.all(walk.map((path) => c.call({ op: 'stat', path })));
    expect(after.map((a) => a.ok)).toEqual([true, true, true, true]);
    expect(builds).toHaveBeenCalledTimes(2);
  });

  it('/sys/module/<m>/{refcnt,parameters/*}, the cpus, /proc', async () => {
    const { c } = await lab();
    await c.call({ op: 'insmod', file: `${FIXTURES}test_klp_callbacks_demo.ko`, params: ['pre_patch_ret=0'] });
    const m = '/sys/module/test_klp_callbacks_demo';
    // an enabled patch holds a reference on its own module (klp_enable_patch's try_module_get)
    expect(await c.call({ op: 'read', path: `${m}/refcnt` })).toMatchObject({ data: '1\n' });
    expect(await c.call({ op: 'stat', path: `${m}/parameters/pre_patch_ret` })).toMatchObject({ kind: 'file', mode: 0o644 });
    expect(await c.call({ op: 'write', path: `${m}/parameters/pre_patch_ret`, data: '-19\n' })).toMatchObject({ ok: true });
    expect(await c.call({ op: 'read', path: `${m}/parameters/pre_patch_ret` })).toMatchObject({ data: '-19\n' });
    expect(await c.call({ op: 'lsmod' })).toMatchObject({ modules: [{ name: 'test_klp_callbacks_demo', refcnt: 1, usedBy: [] }] });
    expect((await c.call({ op: 'read', path: '/proc/modules' })).data).toMatch(
      /^test_klp_callbacks_demo \d+ 1 - Live 0x[0-9a-f]+ \(K\)\n$/,
    );
    expect(await c.call({ op: 'readdir', path: `${m}/holders` })).toMatchObject({ ok: true, entries: [] });
    expect(await c.call({ op: 'read', path: '/sys/devices/system/cpu/online' })).toMatchObject({ data: '0-1\n' });
    expect(await c.call({ op: 'write', path: '/sys/devices/system/cpu/cpu1/online', data: '0\n' })).toMatchObject({ ok: true });
    expect(await c.call({ op: 'read', path: '/sys/devices/system/cpu/online' })).toMatchObject({ data: '0\n' });
    expect(await c.call({ op: 'read', path: '/proc/cmdline' })).toMatchObject({ data: 'klp-lab workload=idle nr_cpus=2\n' });
    const syms = (await c.call({ op: 'read', path: '/proc/kallsyms' })).data as string;
    expect(syms).toMatch(/^[0-9a-f]{16} T (lab_cmdline_show|cmdline_proc_show)$/m);
    expect(syms).toMatch(/^[0-9a-f]{16} [tT] \w+\t\[test_klp_callbacks_demo\]$/m);
  });

  it('/sys/kernel/<kobject>: the files a module makes under kernel_kobj, through their show functions', async () => {
    const { c } = await lab();
    const npids = '/sys/kernel/test_klp_syscall/npids';
    expect(await c.call({ op: 'stat', path: npids })).toMatchObject({ ok: false, errno: 'ENOENT' });
    await c.call({ op: 'insmod', file: `${FIXTURES}test_klp_syscall.ko`, params: ['klp_pids=1,2,3'] });
    expect(await c.call({ op: 'readdir', path: '/sys/kernel/test_klp_syscall' })).toMatchObject({
      entries: [{ name: 'npids', kind: 'file', mode: 0o444 }],
    });
    expect(await c.call({ op: 'read', path: npids })).toMatchObject({ ok: true, data: '3\n' });
    expect(await c.call({ op: 'open', path: npids, access: 'w' })).toMatchObject({ ok: false, errno: 'EACCES' });
  });

  it("/dev/kmsg: the lab's log as records, and a write as one record of the user facility", async () => {
    const { c, server } = await lab();
    const first = await c.call({ op: 'kmsg-read', seq: 0 });
    expect(first.record).toMatch(/^5,0,0,-;Linux-like lab kernel booting on 2 cpus/);
    // a reader waiting for the next record gets it as soon as it is logged
    let seq = 0;
    while ((await c.call({ op: 'kmsg-read', seq })).ok) seq++;
    const writer = await connect(server.path);
    open.push(writer);
    const waiting = c.call({ op: 'kmsg-read', seq, waitMs: 5000 });
    await writer.call({ op: 'write', path: '/dev/kmsg', data: 'echoed\n' });
    expect((await waiting).record).toMatch(new RegExp(`^12,${seq},\\d+,-;echoed\\n$`));
    await writer.call({ op: 'kmsg-write', data: '<3>tab\there \\ and a\nnewline\n' });
    expect((await c.call({ op: 'kmsg-read', seq: seq + 1 })).record).toMatch(/^11,\d+,\d+,-;tab\\x09here \\x5c and a\\x0anewline\n$/);
    expect(await c.call({ op: 'kmsg-read', seq: seq + 2 })).toMatchObject({ ok: false, errno: 'EAGAIN' });
  });

  it('/dev/kmsg: a reader whose record was dropped gets EPIPE with the oldest kept, and reads on from there', async () => {
    const { c } = await lab({ kmsgCapacity: 8 });
    for (let i = 0; i < 20; i++) await c.call({ op: 'kmsg-write', data: `line ${i}\n` });
    const dropped = await c.call({ op: 'kmsg-read', seq: 0 });
    expect(dropped).toMatchObject({ ok: false, errno: 'EPIPE' });
    const next = dropped.next as number;
    expect(next).toBeGreaterThan(0);
    // as the kernel's reader: from the oldest kept on, the last 8 records, the last of them ours
    const got: string[] = [];
    for (let seq = next; ; seq++) {
      const r = await c.call({ op: 'kmsg-read', seq });
      if (!r.ok) break;
      got.push(r.record as string);
    }
    expect(got).toHaveLength(8);
    expect(got.at(-1)).toMatch(new RegExp(`^12,${next + 7},\\d+,-;line 19\n$`));
  });

  it('/dev/kmsg: a batch of consecutive records in one answer, as a reader takes them one by one', async () => {
    const { c } = await lab();
    const one: string[] = [];
    for (let seq = 0; ; seq++) {
      const a = await c.call({ op: 'kmsg-read', seq });
      if (!a.ok) break;
      one.push(a.record as string);
    }
    expect(one.length).toBeGreaterThanOrEqual(5);
    // from record 2, at most 3
    expect(await c.call({ op: 'kmsg-read', seq: 2, max: 3 })).toMatchObject({ ok: true, seq: 2, records: one.slice(2, 5) });
    // all that is there, fewer than asked for
    expect(await c.call({ op: 'kmsg-read', seq: 1, max: 1000 })).toMatchObject({ ok: true, seq: 1, records: one.slice(1) });
    expect(await c.call({ op: 'kmsg-read', seq: one.length, max: 10 })).toMatchObject({ ok: false, errno: 'EAGAIN' });
    expect(await c.call({ op: 'kmsg-read', seq: 0, max: 0 })).toMatchObject({ ok: false, errno: 'EINVAL' });
  });
});
