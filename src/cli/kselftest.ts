// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab kselftest --kernel 6.1|6.12 [TEST...] [--save DIR]`: the kernel's own livepatch
 * selftest scripts, unmodified, each on a freshly booted running lab, in the namespace
 * `klp-lab shell` opens (namespace.ts), as root there, reported as kselftest's runner
 * (tools/testing/selftests/kselftest/runner.sh) reports: TAP 13, the script's output as `# `
 * lines, `ok N selftests: livepatch: NAME`, `# SKIP` for status 4, `not ok ... # exit=RC`.
 *
 * The scripts run from a working copy of the version's selftest folder (the cache stays
 * pristine): 6.12's `insmod test_modules/NAME.ko` finds the modules built for the lab there;
 * 6.1's `modprobe NAME` and `modinfo NAME` find them through the lab's module path. 6.12's
 * has_kdir wants $KDIR to be a directory: it is the tree the lab's modules are built against
 * (`make -C firmware M=DIR`), as $KDIR is a kernel's.
 *
 * The user programs the folder's Makefile lists in TEST_GEN_FILES (6.12's test_klp-call_getpid,
 * which test-syscall.sh starts as `./test_klp-call_getpid &`) are built from their sources in
 * the working copy for the guest, with the lab's user C library (firmware/scripts/Makefile.user),
 * as NAME.guest; NAME itself is a copy of klp-spawn, the host process that starts NAME.guest as a
 * guest task with its own pid and stands for it (signals, output, exit status).
 *
 * --save DIR keeps the two texts each check_result compared, without touching the scripts or
 * functions.sh: bash reads $BASH_ENV before a script, and the file there (SAVE_TRAP) sets a DEBUG
 * trap that functions inherit (`set -T`). Before each command run while check_result is on the
 * call stack, the trap sees check_result's locals (bash scopes them dynamically): the first such
 * command starts the next check, and once `result` has a value, `expect` and `result` are
 * written. Within die (a failed check), check_result is still on the stack, so a failed
 * comparison is kept too.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import {
  ControlServer,
  KERNEL_VERSIONS,
  kernelTestModules,
  KernelSourcesError,
  RunningLab,
  type KernelVersion,
  type Pace,
} from '../lab/index.ts';
import { execFileSync } from 'node:child_process';
import { checkLabNamespace, KLP_SPAWN, runInLabNamespace } from './namespace.ts';
import { addBootOptions, bootOptions, intInRange, type BootFlags } from './options.ts';
import { parsePace } from './shell.ts';
import { KselftestProgress } from './kselftest-progress.ts';
import { ProgressLine } from './terminal.ts';

/** The tree the lab's modules are built against: the scripts' $KDIR. */
const KDIR = fileURLToPath(new URL('../../firmware', import.meta.url));

/*
 * The emulated time a script's commands take. A transition needs about a second of it (the
 * once-a-second retry): at 15 emulated seconds per real one it is over by the end of
 * loop_until's first 0.1 s sleep, where at 10 a second poll was often needed. Not faster: a
 * script must get from loading a patch whose transition stalls to disabling it in less than
 * the 15 emulated seconds after which the kernel signals the tasks still in the way (a line
 * that test-callbacks' "busy target module" does not expect), 1 s of wall time at this pace,
 * for about ten commands, on a loaded host.
 */
const DEFAULT_PACE = 15;
/* Scripts mostly wait (for a transition, for a command): one per host cpu keeps the cpus busy. */
const DEFAULT_JOBS = Math.max(1, Math.min(4, availableParallelism()));
/* Each running script's namespace listens for 4 signals, and Node warns past 10 listeners of one. */
const MAX_JOBS = 8;

/** kselftest's exit status for a skipped test. */
const KSFT_SKIP = 4;

/* $BASH_ENV of a script run with --save: see the comment at the top. */
export const SAVE_TRAP = `# klp-lab kselftest --save: keeps what each check_result compares
unset BASH_ENV
set -T
__klp_save_n=0
__klp_save_in=0
__klp_save_done=0
__klp_save() {
	local __klp_f __klp_nn
	for __klp_f in "\${FUNCNAME[@]:1}"; do
		[[ $__klp_f == check_result ]] && break
	done
	if [[ $__klp_f != check_result ]]; then
		__klp_save_in=0
		return
	fi
	if ((!__klp_save_in)); then
		__klp_save_in=1
		__klp_save_done=0
		__klp_save_n=$((__klp_save_n + 1))
	fi
	if ((!__klp_save_done)) && [[ -n \${result+set} ]]; then
		__klp_save_done=1
		printf -v __klp_nn %02d "$__klp_save_n"
		printf '%s\\n' "$expect" >"$KLP_SAVE_DIR/$KLP_SAVE_NAME.$__klp_nn.expected"
		printf '%s\\n' "$result" >"$KLP_SAVE_DIR/$KLP_SAVE_NAME.$__klp_nn.result"
	fi
}
trap __klp_save DEBUG
`;

export interface KselftestFlags extends BootFlags {
  kernel: KernelVersion;
  save?: string;
  pace: Pace;
  /** Scripts run at once, each on its own lab. */
  jobs: number;
}

/** The version's scripts, test-*.sh, in the order of their names (as the Makefile lists them). */
export function selftestScripts(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^test-.*\.sh$/.test(f))
    .sort();
}

/** Writes `text` with "# " at the start of every line, as kselftest's prefix.pl does, as it comes. */
class TapPrefix {
  private atStart = true;
  constructor(private readonly out: (s: string) => void) {}
  write(text: string): void {
    let s = '';
    for (const line of text.split(/(?<=\n)/)) {
      if (this.atStart && line) s += '# ';
      s += line;
      this.atStart = line.endsWith('\n');
    }
    this.out(s);
  }
  end(): void {
    if (!this.atStart) this.out('\n');
    this.atStart = true;
  }
}

export async function kselftestCommand(
  tests: string[],
  flags: KselftestFlags,
  fail: (message: string) => never,
  out: (s: string) => void = (s) => void process.stdout.write(s),
): Promise<number> {
  checkLabNamespace(flags, fail);
  let built;
  try {
    built = kernelTestModules(flags.kernel);
  } catch (e) {
    if (!(e instanceof KernelSourcesError)) throw e;
    process.stderr.write(`klp-lab: error: ${e.message}\n`);
    return 1;
  }
  const folder = built.sources.selftests;
  const known = selftestScripts(folder);
  // a TEST is one of the version's scripts, or (with a '/') a script of one's own, run beside functions.sh
  const own = new Map<string, string>();
  const names = tests.map((t) => {
    if (t.includes('/')) {
      let ok = false;
      try {
        ok = statSync(t).isFile();
      } catch {
        ok = false;
      }
      if (!ok) fail(`error: argument TEST '${t}' is invalid. No such file.`);
      own.set(basename(t), resolve(t));
      return basename(t);
    }
    const name = t.endsWith('.sh') ? t : `${t}.sh`;
    if (!known.includes(name)) fail(`error: argument TEST '${t}' is invalid. Linux ${flags.kernel}'s scripts are ${known.join(', ')}.`);
    return name;
  });
  const scripts = names.length ? names : known;
  if (flags.save) mkdirSync(flags.save, { recursive: true });

  const work = mkdtempSync(join(tmpdir(), `klp-kselftest-${flags.kernel}-`));
  try {
    cpSync(folder, work, { recursive: true });
    if (flags.kernel === '6.12') {
      mkdirSync(join(work, 'test_modules'), { recursive: true });
      for (const n of built.names) copyFileSync(join(built.dir, `${n}.ko`), join(work, 'test_modules', `${n}.ko`));
    }
    const problem = buildUserPrograms(work);
    if (problem) {
      process.stderr.write(`klp-lab: error: ${problem}\n`);
      return 1;
    }
    for (const [name, file] of own) {
      copyFileSync(file, join(work, name));
      chmodSync(join(work, name), 0o755);
    }
    const bashEnv = join(work, '.klp-save.bash');
    if (flags.save) writeFileSync(bashEnv, SAVE_TRAP);
    const timeout = settingsTimeout(join(folder, 'settings'));

    // on a terminal, a line of progress under the output (TAP output passes around it)
    const progress = new KselftestProgress(new ProgressLine(process.stderr, out), scripts.length);
    out = (s) => progress.print(s);
    out('TAP version 13\n');
    out(`1..${scripts.length}\n`);
    let failed = 0;
    const report = new InOrder(scripts.length, out);
    const runOne = async (i: number, name: string) => {
      const n = i + 1;
      progress.start(n, name);
      const header = `selftests: livepatch: ${name}`;
      const write = (text: string) => report.write(i, text);
      // 6.12's runner says which timeout it uses; 6.1's does not
      if (flags.kernel !== '6.1') write(`# timeout set to ${timeout}\n`);
      write(`# ${header}\n`);
      const prefix = new TapPrefix(write);
      const status = await runScript(
        name,
        work,
        flags.save ? bashEnv : undefined,
        flags,
        {
          KDIR,
          ...(flags.kernel === '6.1' ? { KLP_MODULE_PATH: built.dir } : {}),
          ...(flags.save ? { KLP_SAVE_DIR: resolve(flags.save), KLP_SAVE_NAME: name } : {}),
        },
        (text) => {
          prefix.write(text);
          progress.output(text);
        },
      );
      prefix.end();
      if (status === 0) write(`ok ${n} ${header}\n`);
      else if (status === KSFT_SKIP) write(`ok ${n} ${header} # SKIP\n`);
      else {
        failed++;
        write(`not ok ${n} ${header} # exit=${status}\n`);
      }
      report.finish(i);
    };
    // --jobs scripts at a time, each on its own lab: they share nothing but the working copy,
    // which they only read
    let next = 0;
    const worker = async () => {
      while (next < scripts.length) {
        const i = next++;
        await runOne(i, scripts[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(flags.jobs, scripts.length) }, worker));
    progress.done();
    return failed ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The C programs a selftest folder's Makefile lists in TEST_GEN_FILES (NAME built from NAME.c). */
export function testGenFiles(dir: string): string[] {
  const makefile = join(dir, 'Makefile');
  if (!existsSync(makefile)) return [];
  // lib.mk's variables: TEST_GEN_FILES := a b, continued with backslashes
  const text = readFileSync(makefile, 'utf8').replace(/\\\n/g, ' ');
  const names: string[] = [];
  for (const m of text.matchAll(/^TEST_GEN_FILES\s*[:+]?=(.*)$/gm)) names.push(...m[1].trim().split(/\s+/).filter(Boolean));
  return names.filter((n) => existsSync(join(dir, `${n}.c`)));
}

/**
 * Builds the folder's TEST_GEN_FILES for the guest (NAME.guest) and puts klp-spawn beside each
 * as NAME. Returns what went wrong, or undefined.
 */
function buildUserPrograms(work: string): string | undefined {
  for (const name of testGenFiles(work)) {
    if (!existsSync(KLP_SPAWN)) return `${KLP_SPAWN} is missing: run scripts/bootstrap.sh`;
    const guest = join(work, `${name}.guest`);
    try {
      execFileSync(
        'make',
        [
          '-s',
          '-C',
          KDIR,
          '-f',
          'scripts/Makefile.user',
          `PROG=${guest}`,
          `SRCS=${join(work, `${name}.c`)}`,
          `OBJDIR=${join(work, '.klp-build', name)}`,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      return `building ${name} for the lab failed: ${err.stderr?.toString().trim() || err.message}`;
    }
    copyFileSync(KLP_SPAWN, join(work, name));
    chmodSync(join(work, name), 0o755);
  }
  return undefined;
}

/**
 * The reports of scripts run at once, written in the scripts' order, as one runner would write
 * them: the first unfinished script's as it comes, each later one's when its turn comes.
 */
class InOrder {
  private head = 0;
  private readonly held: { text: string[]; done: boolean }[];
  constructor(
    n: number,
    private readonly out: (s: string) => void,
  ) {
    this.held = Array.from({ length: n }, () => ({ text: [], done: false }));
  }
  write(i: number, text: string): void {
    if (i === this.head) this.out(text);
    else this.held[i].text.push(text);
  }
  finish(i: number): void {
    this.held[i].done = true;
    while (this.head < this.held.length && this.held[this.head].done) {
      this.head++;
      const next = this.held[this.head];
      if (next) this.out(next.text.splice(0).join(''));
    }
  }
}

/** The runner's timeout for the folder: its settings file's, else kselftest's default. */
function settingsTimeout(file: string): number {
  let timeout = 45;
  if (existsSync(file))
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^timeout=(\d+)/.exec(line);
      if (m) timeout = Number(m[1]);
    }
  return timeout;
}

/** One script on a fresh lab: `./NAME` in the working copy, stdout and stderr as one stream. */
async function runScript(
  name: string,
  work: string,
  bashEnv: string | undefined,
  flags: KselftestFlags,
  env: NodeJS.ProcessEnv,
  output: (text: string) => void,
): Promise<number> {
  const running = await RunningLab.start({ ...bootOptions(flags), pace: flags.pace });
  let server: ControlServer | undefined;
  try {
    server = await ControlServer.listen(running);
    void running.stopped.then((reason) => {
      if (reason.kind === 'failure') output(`klp-lab: the lab has stopped: ${reason.error.message.split('\n')[0]}\n`);
    });
    return await runInLabNamespace(server, {
      // $BASH_ENV for the script alone: in the environment, the namespace's own bash would read it first
      command: `${bashEnv ? `BASH_ENV=${shq(bashEnv)} ` : ''}exec ./${shq(name)} 2>&1`,
      cwd: work,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      started: (child) => {
        child.stdout!.setEncoding('utf8').on('data', output);
        child.stderr!.setEncoding('utf8').on('data', output);
      },
    });
  } finally {
    await server?.close();
    await running.close();
  }
}

/** `s` as one word for bash. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The kselftest command, added to the program; `run` receives its exit status. */
export function addKselftestCommand(prog: Command, run: (status: Promise<number>) => Promise<void>): Command {
  return addBootOptions(prog.command('kselftest'), { workload: 'idle' })
    .description("run the kernel's livepatch selftest scripts, unmodified, each on a fresh running lab, reporting TAP as kselftest does")
    .argument('[TEST...]', "scripts to run (default all of the version's test-*.sh); a path runs a script of one's own beside functions.sh")
    .addOption(
      new Option('--kernel <VERSION>', "the kernel whose scripts and test modules to use (Debian's linux-source)")
        .choices(KERNEL_VERSIONS)
        .makeOptionMandatory(),
    )
    .option('--save <DIR>', 'keep the texts of the NN-th check_result of each script as DIR/SCRIPT.NN.expected and .result')
    .addOption(new Option('--pace <X>', "emulated seconds per real second, or 'free'").default(DEFAULT_PACE).argParser(parsePace))
    .addOption(
      new Option('--jobs <N>', `scripts run at once, each on its own lab (reported in order), 1..${MAX_JOBS}`)
        .default(DEFAULT_JOBS, "the host's cpus, at most 4")
        .argParser(intInRange(1, MAX_JOBS)),
    )
    .action((tests: string[], flags: KselftestFlags, cmd: Command) =>
      run(kselftestCommand(tests, flags, (message) => cmd.error(message, { exitCode: 2, code: 'klp-lab.kselftest' }))),
    );
}
