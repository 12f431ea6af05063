// SPDX-License-Identifier: GPL-2.0-or-later
// Running the real command line as a person would: a fresh process, its stdout a real pipe,
// the exit status checked.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = `${ROOT}bin/klp-lab.mjs`;

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The command to run instead of `node bin/klp-lab.mjs` (an installed klp-lab, say). */
  command?: string[];
  /**
   * Read the command's stdout through a pipe that nobody reads for this long, as `| (sleep 1;
   * wc -c)` does: the pipe fills and the rest must wait in the command.
   */
  slowReaderMs?: number;
}

export function cli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  let argv = [...(opts.command ?? [process.execPath, BIN]), ...args];
  // Node's own child stdio is a socketpair with far larger buffers than a pipe's 64 KiB: put a
  // real pipe, read late, between the command and us
  if (opts.slowReaderMs) argv = ['bash', '-o', 'pipefail', '-c', `"$@" | { sleep ${opts.slowReaderMs / 1000}; cat; }`, 'klp-lab', ...argv];
  const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdout.on('data', (b: Buffer) => out.push(b));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) =>
      resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}
