// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A bash in private user, mount and pid namespaces (unshare) whose /sys, /proc/{cmdline,
 * meminfo,kallsyms,...} and /dev/kmsg are a running lab's: what `klp-lab shell` opens and what
 * `klp-lab kselftest` runs each script in. The lab's files are mounted over the real ones there
 * only, and the host's /sys, /proc and /dev/kmsg are never touched. Nothing outlives the session,
 * even after `kill -9` of klp-lab:
 *   - unshare is started under `setpriv --pdeathsig KILL`, so it dies with klp-lab;
 *   - unshare's --kill-child kills the namespace's init (the setup script below) with it;
 *   - when a pid namespace's init dies, the kernel kills every process in it (the FUSE helper,
 *     the bash, whatever it left in the background), and with its last process the mount
 *     namespace and every mount in it go;
 *   - the FUSE helper also exits when the lab's socket closes.
 * When the bash exits, the init exits with its status and the namespaces go. A client's stop
 * request ends the session the other way round: the namespaces are killed, and the status is 0.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlServer } from '../lab/index.ts';
import { checkAgainstImage, type BootFlags } from './options.ts';

export const KLP_FUSE = fileURLToPath(new URL('../../build/native/klp-fuse', import.meta.url));
/** The host process standing for a guest program's task (src/lab/native/klp-spawn.c). */
export const KLP_SPAWN = fileURLToPath(new URL('../../build/native/klp-spawn', import.meta.url));
/** The commands acting on the lab (insmod, rmmod, lsmod, modinfo, modprobe: klp-kmod's names), first on the shell's PATH. */
export const KLP_PATH = fileURLToPath(new URL('../../build/native/path', import.meta.url));
/** Where modprobe looks for modules unless $KLP_MODULE_PATH says otherwise: the lab's fixtures. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../fixtures', import.meta.url));

/** The files of the lab bound over the real ones, besides /sys (only those the lab has). */
const BOUND_FILES = ['/proc/cmdline', '/proc/meminfo', '/proc/kallsyms', '/proc/modules', '/proc/sys/kernel/ftrace_enabled', '/dev/kmsg'];

/*
 * The namespace's init: mounts the lab's files (stopping at the first failure, before any
 * command of the user runs: a failed bind would leave the host's file in place), then runs the
 * user's bash and exits with its status.
 */
const SETUP = `
set -euo pipefail
# host pids here start halfway to pid_max, clear of the lab's own small pids: a process standing
# for a guest task (klp-spawn) gives the task its own pid, which must be free in the guest
echo $(($(cat /proc/sys/kernel/pid_max) / 2)) >/proc/sys/kernel/ns_last_pid || true
"$KLP_FUSE" "$KLP_SOCKET" "$KLP_FS" &
fuse=$!
for _ in $(seq 1000); do
	[ -d "$KLP_FS/sys" ] && break
	kill -0 "$fuse" 2>/dev/null || { echo "klp-lab: the FUSE helper failed" >&2; exit 125; }
	sleep 0.01
done
[ -d "$KLP_FS/sys" ] || { echo "klp-lab: the FUSE helper did not mount in 10 s" >&2; exit 125; }
mount --bind "$KLP_FS/sys" /sys
for f in ${BOUND_FILES.join(' ')}; do
	# a file the host's kernel lacks cannot be a mount point in its /proc: left out
	if [ -e "$KLP_FS$f" ] && [ -e "$f" ]; then mount --bind "$KLP_FS$f" "$f"; fi
done
[ "$(stat -f -c %T /dev/kmsg)" = fuseblk ] || [ "$(stat -f -c %T /dev/kmsg)" = fuse ] ||
	{ echo "klp-lab: /dev/kmsg is not the lab's" >&2; exit 125; }
unset KLP_FUSE KLP_FS
export PATH="$KLP_PATH:$PATH"
set +euo pipefail
if [ -n "\${KLP_CWD+x}" ]; then
	cd "$KLP_CWD" || exit 125
	unset KLP_CWD
fi
if [ -n "\${KLP_CMD+x}" ]; then
	cmd=$KLP_CMD
	unset KLP_CMD
	bash -c "$cmd"
else
	bash --rcfile "$KLP_RC" -i
fi
`;

/** What `[klp-lab] ` prompts are made of: the user's own rc first. */
const RC = `[ -f ~/.bashrc ] && . ~/.bashrc
case ":$PATH:" in "$KLP_PATH":*) ;; *) PATH="$KLP_PATH:$PATH" ;; esac
PS1='[klp-lab] \\w\\$ '
`;

/**
 * What a lab in the namespace needs before it boots, checked for the commands that start one
 * (shell, kselftest): the booting options against the image, and the FUSE helper built.
 */
export function checkLabNamespace(flags: BootFlags, fail: (message: string) => never): void {
  let problem: string | undefined;
  try {
    problem = checkAgainstImage(flags);
  } catch (e) {
    problem = `option '--image <FILE>' argument '${flags.image}' is invalid. ${(e as Error).message}`;
  }
  if (problem) fail(`error: ${problem}`);
  if (!existsSync(KLP_FUSE)) fail(`error: the FUSE helper ${KLP_FUSE} is missing: run scripts/bootstrap.sh`);
  if (!existsSync(join(KLP_PATH, 'modprobe'))) fail(`error: the module commands in ${KLP_PATH} are missing: run scripts/bootstrap.sh`);
}

export interface LabNamespaceOptions {
  /** Run this with `bash -c`; an interactive bash when absent. */
  command?: string;
  /** The directory the command starts in (the caller's by default). */
  cwd?: string;
  /** Variables added to the environment (KLP_MODULE_PATH, say). */
  env?: NodeJS.ProcessEnv;
  /** The bash's stdio: 'inherit' (a terminal session) by default. */
  stdio?: StdioOptions;
  /** Called with the namespace's process once it is started (to read its pipes). */
  started?: (child: ChildProcess) => void;
}

/**
 * Runs a bash in a namespace that sees `server`'s lab, and resolves to its exit status (128 +
 * the signal for a killed one, 0 when a client asked the lab to stop). The caller still owns the
 * lab and the server and closes them.
 */
export async function runInLabNamespace(server: ControlServer, opts: LabNamespaceOptions = {}): Promise<number> {
  const fs = join(server.dir, 'fs');
  const rc = join(server.dir, 'bashrc');
  const init = join(server.dir, 'init');
  writeFileSync(rc, RC, { mode: 0o600 });
  writeFileSync(init, SETUP, { mode: 0o600 });
  mkdirSync(fs, { mode: 0o700, recursive: true });
  const env: NodeJS.ProcessEnv = {
    KLP_MODULE_PATH: FIXTURES_DIR,
    ...process.env,
    ...opts.env,
    KLP_SOCKET: server.path,
    KLP_FS: fs,
    KLP_FUSE,
    KLP_RC: rc,
    KLP_PATH,
  };
  if (opts.command !== undefined) env.KLP_CMD = opts.command;
  if (opts.cwd !== undefined) env.KLP_CWD = opts.cwd;
  const child = spawn(
    'setpriv',
    // prettier-ignore
    ['--pdeathsig', 'KILL', '--',
      'unshare', '--user', '--map-root-user', '--mount', '--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc', '--',
      'bash', init],
    { stdio: opts.stdio ?? 'inherit', env },
  );
  opts.started?.(child);
  // as a shell does for its foreground job: ^C is for the command, not for us
  const ignore = () => {};
  const end = () => child.kill('SIGKILL');
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  process.on('SIGTERM', end);
  process.on('SIGHUP', end);
  // a client asked the lab to stop: the session ends with it, successfully
  let stopped = false;
  void server.stopRequested.then(() => {
    stopped = true;
    child.kill('SIGKILL');
  });
  try {
    return await new Promise<number>((resolve) => {
      child.on('error', (e) => {
        process.stderr.write(`klp-lab: cannot start the shell: ${e.message}\n`);
        resolve(1);
      });
      child.on('close', (code, signal) => resolve(stopped ? 0 : (code ?? 128 + (signal ? constants.signals[signal] : 0))));
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
    process.off('SIGTERM', end);
    process.off('SIGHUP', end);
  }
}
