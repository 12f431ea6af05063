#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * insmod, rmmod, lsmod, modinfo and modprobe for `klp-lab shell`, acting on the running lab through its control
 * socket ($KLP_SOCKET) and printing what kmod 30 (Debian 12) prints: the scripts of a kernel
 * engineer, and the kernel's selftests, put those texts in their expected output. The texts
 * and exit statuses were taken from the real kmod run on a kernel that refused the load.
 *
 * One file, called through a link of each name (the tool is the name it was called by), in
 * plain JavaScript: a command starts in the time Node takes, with nothing to compile.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { basename, resolve } from 'node:path';

const tool = basename(process.argv[1]);
const args = process.argv.slice(2);

/** kmod's logging: "insmod: ERROR: ..." on stderr. */
function error(text) {
  process.stderr.write(`${tool}: ERROR: ${text}\n`);
}

/** One request to the lab; resolves to its answer. */
function call(req) {
  const path = process.env.KLP_SOCKET;
  if (!path) {
    error('KLP_SOCKET is not set: run this in `klp-lab shell`');
    process.exit(1);
  }
  return new Promise((res, rej) => {
    const s = createConnection(path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('error', rej);
    s.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      s.end();
      res(JSON.parse(buf.slice(0, nl)));
    });
    s.write(JSON.stringify(req) + '\n');
  });
}

/** kmod's insmod: what a failed init_module() means, in its words. */
function insmodStrerror(a) {
  switch (a.errno) {
    case 'ENOEXEC':
      return 'Invalid module format';
    case 'ENOENT':
      return 'Unknown symbol in module';
    case 'ESRCH':
      return 'Module has wrong symbol version';
    case 'EINVAL':
      return 'Invalid parameters';
    default:
      return a.strerror;
  }
}

async function insmod() {
  const opts = args.filter((a) => a.startsWith('-'));
  const [file, ...params] = args.filter((a) => !a.startsWith('-'));
  if (opts.length) {
    error(`unsupported option ${opts[0]}`);
    return 1;
  }
  if (!file) {
    error('missing filename.');
    return 1;
  }
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    error(
      `could not load module ${file}: ${e.code === 'ENOENT' ? 'No such file or directory' : e.code === 'EACCES' ? 'Permission denied' : e.message}`,
    );
    return 1;
  }
  const a = await call({ op: 'insmod', file: resolve(file), params });
  if (a.ok) return 0;
  error(`could not insert module ${file}: ${insmodStrerror(a)}`);
  return 1;
}

/** rmmod takes a name or a path: "dir/test-klp_x.ko" is module test_klp_x. */
function moduleName(arg) {
  return basename(arg).replace(/\.ko$/, '').replace(/-/g, '_');
}

async function rmmod() {
  const names = args.filter((a) => !a.startsWith('-'));
  if (!names.length) {
    error('missing module name.');
    return 1;
  }
  let status = 0;
  for (const arg of names) {
    const name = moduleName(arg);
    const mods = (await call({ op: 'lsmod' })).modules;
    const m = mods.find((x) => x.name === name);
    if (!m) {
      error(`Module ${name} is not currently loaded`);
      status = 1;
      continue;
    }
    if (m.usedBy.length) {
      error(`Module ${name} is in use by: ${m.usedBy.join(' ')}`);
      status = 1;
      continue;
    }
    if (m.refcnt > 0) {
      error(`Module ${name} is in use`);
      status = 1;
      continue;
    }
    const a = await call({ op: 'rmmod', name });
    if (!a.ok) {
      error(`could not remove module ${arg}: ${a.strerror}`);
      status = 1;
    }
  }
  return status;
}

/** "Module  Size  Used by", newest module first, as /proc/modules lists them. */
async function lsmod() {
  const mods = (await call({ op: 'lsmod' })).modules;
  let out = 'Module                  Size  Used by\n';
  for (const m of [...mods].reverse()) {
    out += `${m.name.padEnd(19)} ${String(m.size).padStart(8)}  ${m.refcnt}`;
    if (m.usedBy.length) out += ` ${m.usedBy.join(',')}`;
    out += '\n';
  }
  process.stdout.write(out);
  return 0;
}

/**
 * modinfo [-F FIELD] FILE...: "filename:" first (as given, made absolute without normalizing),
 * the .modinfo fields in file order, then each parameter as "name:description (type)". kmod
 * takes only *.ko for a file and looks any other name up as a module of the running kernel;
 * the lab's objects are *.o too, and its module tree is $KLP_MODULE_PATH, as for modprobe.
 */
async function modinfo() {
  let field;
  const names = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-F' || a === '--field') field = args[++i];
    else if (a.startsWith('--field=')) field = a.slice('--field='.length);
    else if (a.startsWith('-F') && a.length > 2) field = a.slice(2);
    else if (a.startsWith('-')) {
      error(`unsupported option ${a}`);
      return 1;
    } else names.push(a);
  }
  if (!names.length) {
    error('missing module or filename.');
    return 1;
  }
  let status = 0;
  for (const name of names) {
    // a file, or else the name of a module of the module path, as kmod looks names up in
    // /lib/modules/$(uname -r) (the 6.1 selftests run `modinfo NAME`)
    let file = /\.k?o$/.test(name) ? name : findModule(moduleName(name));
    try {
      if (file) accessSync(file, constants.R_OK);
    } catch {
      file = undefined;
    }
    if (!file) {
      error(`Module ${name} not found.`);
      status = 1;
      continue;
    }
    const a = await call({ op: 'modinfo', file: resolve(file) });
    if (!a.ok) {
      error(`could not get modinfo from '${name}': ${a.strerror}`);
      status = 1;
      continue;
    }
    const fields = [['filename', file.startsWith('/') ? file : `${process.cwd()}/${file}`]];
    const params = new Map();
    const param = (p) => params.get(p) ?? params.set(p, {}).get(p);
    for (const [tag, value] of a.entries) {
      const colon = value.indexOf(':');
      if ((tag === 'parm' || tag === 'parmtype') && colon > 0) {
        param(value.slice(0, colon))[tag === 'parm' ? 'desc' : 'type'] = value.slice(colon + 1);
      } else fields.push([tag, value]);
    }
    for (const [p, { desc, type }] of params) {
      const text = desc === undefined ? type : type === undefined ? desc : `${desc} (${type})`;
      fields.push(['parm', `${p}:${text}`]);
    }
    let out = '';
    for (const [tag, value] of fields)
      if (field === undefined) out += `${`${tag}:`.padEnd(16)}${value}\n`;
      else if (tag === field) out += `${value}\n`;
    process.stdout.write(out);
  }
  return status;
}

/** The directories of $KLP_MODULE_PATH (colon-separated): the lab's module tree. */
function modulePath() {
  return (process.env.KLP_MODULE_PATH ?? '').split(':').filter(Boolean);
}

/** NAME.ko or NAME.o (or with dashes for underscores) from the first directory that has it. */
function findModule(name) {
  const candidates = [...new Set([name, name.replace(/_/g, '-')])].flatMap((n) => [`${n}.ko`, `${n}.o`]);
  for (const d of modulePath()) {
    const file = candidates.map((c) => `${d}/${c}`).find((f) => existsSync(f));
    if (file) return file;
  }
  return undefined;
}

/**
 * modprobe [-n|--dry-run] [-q] NAME [name=value...]: loads NAME.ko or NAME.o from the first
 * directory of $KLP_MODULE_PATH (colon-separated) that has it -- the lab has no module tree
 * and no dependencies to resolve. A module already loaded is success, as in kmod.
 */
async function modprobe() {
  let dryRun = false;
  let quiet = false;
  const rest = [];
  for (const a of args) {
    if (a === '-n' || a === '--dry-run') dryRun = true;
    else if (a === '-q' || a === '--quiet') quiet = true;
    else if (a.startsWith('-') && !rest.length) {
      error(`unsupported option ${a}`);
      return 1;
    } else rest.push(a);
  }
  const [arg, ...params] = rest;
  if (!arg) {
    error('missing parameters. See -h.');
    return 1;
  }
  const name = moduleName(arg);
  const file = findModule(name);
  if (!file) {
    if (!quiet) process.stderr.write(`${tool}: FATAL: Module ${name} not found in directory ${modulePath().join(':')}\n`);
    return 1;
  }
  if (dryRun) return 0;
  const loaded = (await call({ op: 'lsmod' })).modules.some((m) => m.name === name);
  if (loaded) return 0;
  const a = await call({ op: 'insmod', file, params });
  if (a.ok) return 0;
  const why = a.errno === 'ENOENT' ? 'Unknown symbol in module, or unknown parameter (see dmesg)' : a.strerror;
  if (!quiet) error(`could not insert '${name}': ${why}`);
  return 1;
}

const tools = { insmod, rmmod, lsmod, modinfo, modprobe };
if (!tools[tool]) {
  process.stderr.write(`kmod.mjs: called as '${tool}': call it as ${Object.keys(tools).join(', ')}\n`);
  process.exitCode = 1;
} else {
  tools[tool]().then(
    (status) => (process.exitCode = status),
    (e) => {
      error(e.message);
      process.exitCode = 1;
    },
  );
}
