// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The command line's options and their checks. Every value is checked while the arguments are
 * parsed, before anything boots: a bad one is a one-line error naming the option and what it
 * accepts (commander prints it, exit status 2). What only the image can tell (its workloads, how
 * many cpus it supports) is checked by checkAgainstImage() right after, still before booting.
 *
 * The boot options live here once, so every command that boots offers the same ones; a new one
 * (a repeated --dyndbg QUERY, say) is one more entry in addBootOptions() and bootOptions().
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CHECKPOINT_INSNS, parseListenAddress, type ListenAddress } from '../gdb/index.ts';
import { DEFAULT_IMAGE, workloads, type BootOptions, KernelImage, DdebugQueryError, parseQueries, type Kernel } from '../kernel/index.ts';
import { findQuirk, QUIRKS } from '../lab/index.ts';

/** A whole decimal number in [min, max]; the error names the range. */
export function intInRange(min: number, max: number) {
  return (value: string): number => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`It must be a whole number from ${min} to ${max}.`);
    return n;
  };
}

const U64_MAX = (1n << 64n) - 1n;

/** The interleaving seed: a non-negative integer that fits the guest's 64-bit boot_params.seed. */
export function parseSeed(value: string): bigint {
  if (!/^\d+$/.test(value) || BigInt(value) > U64_MAX) throw new InvalidArgumentError(`It must be a whole number from 0 to ${U64_MAX}.`);
  return BigInt(value);
}

/** A file that exists, is a regular file and starts with the ELF magic. */
export function elfFile(value: string): string {
  let st;
  try {
    st = statSync(value);
  } catch {
    throw new InvalidArgumentError(`No such file '${value}'; it must be an ELF file.`);
  }
  if (!st.isFile()) throw new InvalidArgumentError(`'${value}' is not a regular file; it must be an ELF file.`);
  const magic = Buffer.alloc(4);
  const fd = openSync(value, 'r');
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new InvalidArgumentError(`'${value}' is not an ELF file.`);
  return value;
}

export const MAX_CPUS = 64;
/*
 * A round lasts quantum x 1000 emulated ns. Below 100 instructions a round is shorter than the
 * firmware's shortest critical sections and the host's per-round cost swamps the run; above 1 M
 * a single round outlasts 100 timer ticks and the interleaving stops meaning anything.
 */
export const MIN_QUANTUM = 100;
export const MAX_QUANTUM = 1_000_000;
/** One emulated hour: far past anything useful, and bounded so a typo does not run for a day. */
export const MAX_MS = 3_600_000;

/** The values every booting command receives (commander's opts()). */
export interface BootFlags {
  image: string;
  cpus: number;
  workload: string;
  seed: bigint;
  preempt: 'none' | 'full';
  quantum: number;
  dyndbg: string[];
  /** The KLP_QUIRK_* constants of the --quirk options. */
  quirk: string[];
}

export function imageOption(): Option {
  return new Option('--image <FILE>', 'kernel image, an ELF file').default(DEFAULT_IMAGE, 'fixtures/kernel.elf').argParser(elfFile);
}

/** Adds the options of a command that boots the image; `defaults` changes a default (kselftest's idle workload). */
export function addBootOptions(cmd: Command, defaults: { workload?: string } = {}): Command {
  return cmd
    .addOption(imageOption())
    .addOption(new Option('--cpus <N>', `number of vCPUs, 1..${MAX_CPUS}`).default(4).argParser(intInRange(1, MAX_CPUS)))
    .addOption(new Option('--workload <NAME>', 'workload to run (`klp-lab list` names them)').default(defaults.workload ?? 'default'))
    .addOption(new Option('--seed <N>', 'seed of the vCPU interleaving, a non-negative integer').default(1n, '1').argParser(parseSeed))
    .addOption(new Option('--preempt <MODE>', 'preemption model').choices(['none', 'full']).default('none'))
    .addOption(
      new Option('--quantum <N>', `instructions per vCPU per round, ${MIN_QUANTUM}..${MAX_QUANTUM}`)
        .default(5000)
        .argParser(intInRange(MIN_QUANTUM, MAX_QUANTUM)),
    )
    .addOption(
      new Option(
        '--dyndbg <QUERY>',
        "a dynamic debug query, as written to dynamic_debug/control (repeatable): 'file kernel/livepatch/* +p'",
      )
        .default([], 'none: pr_debug is off, as in the kernel')
        .argParser(collectQuery),
    )
    .addOption(quirkOption());
}

/**
 * --quirk NAME (repeatable): bring back a historic bug (src/lab/quirks.ts), by its short name or
 * its KLP_QUIRK_* constant; the flags hold the constants, as the boot takes them.
 */
export function quirkOption(): Option {
  return new Option(
    '--quirk <NAME>',
    `bring back a fixed bug (repeatable): ${QUIRKS.map((q) => q.name).join(', ')}, or its KLP_QUIRK_* constant`,
  )
    .default([], 'none')
    .argParser(collectQuirk);
}

function collectQuirk(value: string, previous: string[]): string[] {
  const q = findQuirk(value);
  if (!q) throw new InvalidArgumentError(`It must be one of ${QUIRKS.map((x) => x.name).join(', ')} or their KLP_QUIRK_* constants.`);
  return previous.includes(q.constant) ? previous : [...previous, q.constant];
}

/** --dyndbg: checked with the control file's own parser, so a bad query fails before booting. */
function collectQuery(value: string, previous: string[]): string[] {
  try {
    parseQueries(value);
  } catch (e) {
    if (e instanceof DdebugQueryError) throw new InvalidArgumentError(`${e.message}.`);
    throw e;
  }
  return [...previous, value];
}

/** Writes the --dyndbg queries to the booted kernel's control table, in the order given. */
export function applyDyndbg(k: Kernel, flags: BootFlags): void {
  for (const q of flags.dyndbg) k.dynamicDebug.write(q);
}

/** --gdb [HOST:]PORT: where the GDB stub listens (loopback unless a host is given; port 0: any free one). */
export function gdbOption(): Option {
  return new Option('--gdb <[HOST:]PORT>', 'wait for gdb on this TCP port (127.0.0.1 unless HOST is given) before the run').argParser(
    (value: string): ListenAddress => {
      try {
        return parseListenAddress(value);
      } catch (e) {
        throw new InvalidArgumentError(`${(e as Error).message}.`);
      }
    },
  );
}

/** How often a run under gdb leaves a checkpoint for reverse execution to replay from. */
export function gdbCheckpointsOption(): Option {
  return new Option(
    '--gdb-checkpoints <N>',
    `under --gdb: instructions between two checkpoints that reverse execution replays from, 0 for none (default ${CHECKPOINT_INSNS})`,
  ).argParser(intInRange(0, Number.MAX_SAFE_INTEGER));
}

export function addMsOption(cmd: Command, what: string): Command {
  return cmd.addOption(new Option('--ms <N>', `${what}, 1..${MAX_MS}`).default(1000).argParser(intInRange(1, MAX_MS)));
}

/**
 * The checks that need the image: its workloads and its NR_CPUS. Returns the error text for
 * commander's error() (so it is reported like any other bad option), or undefined.
 */
export function checkAgainstImage(flags: BootFlags): string | undefined {
  const image = KernelImage.load(flags.image);
  const names = [...workloads(image).keys()];
  if (!names.includes(flags.workload))
    return `option '--workload <NAME>' argument '${flags.workload}' is invalid. Allowed choices are ${names.join(', ')}.`;
  const nr = image.layout.constant('NR_CPUS');
  if (flags.cpus > nr) return `option '--cpus <N>' argument '${flags.cpus}' is invalid. The image supports 1 to ${nr} cpus.`;
  return undefined;
}

/** The BootOptions for bootKernel()/Lab.boot() from checked flags. */
export function bootOptions(flags: BootFlags): BootOptions {
  return {
    image: flags.image,
    cpus: flags.cpus,
    workload: flags.workload,
    seed: flags.seed,
    preempt: flags.preempt,
    quantum: flags.quantum,
    quirks: flags.quirk,
  };
}

/** A file to write: its folder must exist and be writable, and the path must not be a folder. */
export function outputFile(value: string): string {
  const path = resolve(value);
  let dir;
  try {
    dir = statSync(dirname(path));
  } catch {
    throw new InvalidArgumentError(`No such folder '${dirname(path)}' to write '${value}' in.`);
  }
  if (!dir.isDirectory()) throw new InvalidArgumentError(`'${dirname(path)}' is not a folder to write '${value}' in.`);
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch {
    throw new InvalidArgumentError(`The folder '${dirname(path)}' is not writable.`);
  }
  try {
    if (statSync(path).isDirectory()) throw new InvalidArgumentError(`'${value}' is a folder; it must be a file to write.`);
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
  }
  return path;
}

/** What a session leaves behind: --trace FILE (Chrome's JSON trace) and --html FILE (the report). */
export interface OutputFlags {
  trace?: string;
  html?: string;
}

export function addOutputOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--trace <FILE>',
        "write the session's timeline to FILE in Chrome's JSON trace format (ui.perfetto.dev opens it)",
      ).argParser(outputFile),
    )
    .addOption(new Option('--html <FILE>', "write the session's report to FILE: one HTML page that works offline").argParser(outputFile));
}
