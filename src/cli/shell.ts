// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab shell [-c CMD]`: a bash whose /sys, /proc/{cmdline,meminfo,kallsyms} and /dev/kmsg
 * are the running lab's, so that ordinary programs (cat, echo, grep, stat, dmesg, getconf, a
 * kernel engineer's scripts) work on the lab as on a kernel. The namespaces it runs in, and why
 * nothing outlives the session, are namespace.ts's. When the bash exits, klp-lab stops the lab,
 * removes its runtime directory and exits with the bash's status.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ControlServer, RunningLab, type Pace } from '../lab/index.ts';
import { checkLabNamespace, runInLabNamespace } from './namespace.ts';
import { addBootOptions, applyDyndbg, bootOptions, type BootFlags } from './options.ts';

export interface ShellFlags extends BootFlags {
  pace: Pace;
  command?: string;
}

/** --pace: a positive number of emulated seconds per real second, or free. */
export function parsePace(value: string): Pace {
  if (value === 'free') return 'free';
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= 1e6)) throw new InvalidArgumentError("It must be a positive number (emulated seconds per real second) or 'free'.");
  return n;
}

export async function shellCommand(flags: ShellFlags, fail: (message: string) => never): Promise<number> {
  checkLabNamespace(flags, fail);
  const running = await RunningLab.start({ ...bootOptions(flags), pace: flags.pace });
  let server: ControlServer | undefined;
  try {
    applyDyndbg(running.lab.k, flags);
    server = await ControlServer.listen(running);
    void running.stopped.then((reason) => {
      // the whole report is in the lab's log, for dmesg
      if (reason.kind === 'failure') process.stderr.write(`klp-lab: the lab has stopped: ${reason.error.message.split('\n')[0]}\n`);
    });
    return await runInLabNamespace(server, { command: flags.command });
  } finally {
    await server?.close();
    await running.close();
  }
}

/** The shell command, added to the program; `run` receives its exit status. */
export function addShellCommand(prog: Command, run: (status: Promise<number>) => Promise<void>): Command {
  return addBootOptions(prog.command('shell'))
    .description("a bash whose /sys, /proc and /dev/kmsg are the running lab's, in private namespaces")
    .addOption(
      new Option('--pace <X>', "emulated seconds per real second, or 'free' (as fast as the host allows)").default(1).argParser(parsePace),
    )
    .option('-c, --command <CMD>', 'run CMD with bash -c instead of an interactive bash')
    .action((flags: ShellFlags, cmd: Command) =>
      run(shellCommand(flags, (message) => cmd.error(message, { exitCode: 2, code: 'klp-lab.shell' }))),
    );
}
