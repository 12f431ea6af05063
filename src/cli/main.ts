// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * klp-lab command line. `boot` (the default) boots a firmware image on N emulated vCPUs, runs
 * a workload for a while and shows the kernel log and what every vCPU and task is doing; the
 * other commands are listed by `klp-lab --help`.
 *
 * Parsing is commander's: per-command help, --version, unknown options and extra arguments
 * refused, every value checked by the parsers in options.ts before anything boots. Usage errors
 * exit with status 2, a failed run (an oops, a failed step, a failed selftest) with 1.
 *
 * Output goes through out() and the process ends by returning, never by process.exit(): Node
 * writes to a pipe asynchronously, and exiting would cut what is still queued.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { bootKernel, formatTimestamp, type Kernel, KernelOops, KernelPanic } from '../kernel/index.ts';
import {
  cpuReport,
  cpuRows,
  runSummary,
  tableObjects,
  taskReport,
  taskRows,
  Lab,
  withUnwinder,
  SELFTESTS,
  runSelftest,
  suites,
  kernelTestModules,
  KERNEL_VERSIONS,
  type KernelVersion,
  parseStep,
  runStep,
  StepError,
  StepFailure,
  type Step,
} from '../lab/index.ts';
import { orcDump, parseStackTarget, stackTask, StackTargetError, taskStack, formatTaskStack } from './orc.ts';
import { blockingStacksReport, formatLog, logSince, patchStateReport, patchStates, sysfsEntries, sysfsReport } from './livepatch.ts';
import { captureKernelReport, captureReport, type ReportSession } from './html-report.ts';
import { tracesEntry, writeSessionFiles } from './session-files.ts';
import {
  addBootOptions,
  quirkOption,
  addMsOption,
  addOutputOptions,
  type OutputFlags,
  applyDyndbg,
  bootOptions,
  checkAgainstImage,
  elfFile,
  gdbOption,
  gdbCheckpointsOption,
  imageOption,
  type BootFlags,
} from './options.ts';
import { listReport } from './list.ts';
import type { ListenAddress, MonitorCommand } from '../gdb/index.ts';
import { runSession, stackMonitor } from './gdb-session.ts';
import { addShellCommand } from './shell.ts';
import { addKselftestCommand } from './kselftest.ts';
import { addTopCommand } from './top.ts';
import { LiveView } from './live.ts';
import { ttyOf } from './terminal.ts';
import { addExploreCommand } from './explore.ts';
import type { RunResult } from '../emu/index.ts';

const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** A usage error found after parsing (a value only the image can check): exit status 2. */
const USAGE_EXIT = 2;

function out(text: string): void {
  process.stdout.write(text);
}

function print(title: string, lines: readonly string[]): void {
  out(`${title}\n${lines.join('\n')}\n\n`);
}

function printJson(value: unknown): void {
  out(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
}

/** Checks what needs the image, reporting a bad value like commander reports any other. */
function checkImage(cmd: Command, flags: BootFlags): void {
  let problem: string | undefined;
  try {
    problem = checkAgainstImage(flags);
  } catch (e) {
    problem = `option '--image <FILE>' argument '${flags.image}' is invalid. ${(e as Error).message}`;
  }
  if (problem) cmd.error(`error: ${problem}`, { exitCode: USAGE_EXIT, code: 'klp-lab.invalidOption' });
}

function runJson(r: RunResult) {
  return { emulatedNs: r.ns, rounds: r.rounds, instructions: r.insns.toString(), hostMs: r.totalMs };
}

function failureReport(e: unknown): { title: string; lines: string[] } | undefined {
  if (e instanceof KernelOops) return { title: '# oops', lines: e.report.split('\n') };
  if (e instanceof KernelPanic) return { title: '# panic', lines: [e.message] };
  return undefined;
}

// --- boot -------------------------------------------------------------------------------------

interface BootCmdFlags extends BootFlags, OutputFlags {
  ms: number;
  events: boolean;
  json: boolean;
  gdb?: ListenAddress;
  gdbCheckpoints?: number;
}

async function bootCommand(flags: BootCmdFlags, cmd: Command): Promise<number> {
  checkImage(cmd, flags);
  const boot = async () => {
    const k = await bootKernel({ ...bootOptions(flags), traceEntry: tracesEntry(flags) });
    withUnwinder(k);
    applyDyndbg(k, flags);
    return { k, close: () => k.close() };
  };
  const session = ({ k }: { k: Kernel }) => {
    try {
      return { r: k.run({ ns: flags.ms * 1e6 }) as RunResult | undefined, failure: undefined };
    } catch (e) {
      const failure = failureReport(e);
      if (!failure) throw e;
      return { r: undefined, failure };
    }
  };
  const { lab, result } = await runSession(flags.gdb, boot, session, ({ k }) => ({ stack: stackMonitor(k) }), flags.gdbCheckpoints);
  const k = lab.k;
  try {
    const { r, failure } = result;
    writeSessionFiles(flags, () => [captureKernelReport(k, '')], 'klp-lab boot');
    const events = k.log.events
      .filter((e) => e.type !== 'printk')
      .map((e) => ({ tsNs: e.tsNs, cpu: e.cpu, pid: e.pid, type: e.type, a: e.a, b: e.b, c: e.c }));
    if (flags.json) {
      printJson({
        command: 'boot',
        log: logSince(k),
        ...(flags.events ? { events } : {}),
        ...(failure ? { failure: { kind: failure.title.slice(2), report: failure.lines } } : {}),
        cpus: tableObjects(cpuRows(k)),
        tasks: tableObjects(taskRows(k)),
        ...(r ? { run: runJson(r) } : {}),
        sha256: k.log.digest(),
      });
      return failure ? 1 : 0;
    }
    print('# kernel log', k.log.dmesg());
    if (failure) {
      print(failure.title, failure.lines);
      return 1;
    }
    if (flags.events)
      print(
        '# events',
        events.map((e) => `${(e.tsNs / 1e6).toFixed(3)}ms cpu${e.cpu} pid${e.pid} ${e.type} ${e.a} ${e.b} ${e.c}`),
      );
    print('# vCPUs', cpuReport(k));
    print('# tasks', taskReport(k));
    print('# run', [runSummary(r!), `event log sha256 ${k.log.digest()}`]);
    return 0;
  } finally {
    k.close();
  }
}

// --- stack ------------------------------------------------------------------------------------

async function stackCommand(target: string, flags: BootCmdFlags, cmd: Command): Promise<number> {
  const t = parseStackTarget(target);
  if ('cpu' in t && t.cpu >= flags.cpus)
    cmd.error(`error: argument TASK '${target}' is invalid. The machine has cpus 0 to ${flags.cpus - 1}.`, { exitCode: USAGE_EXIT });
  checkImage(cmd, flags);
  const k = await bootKernel(bootOptions(flags));
  withUnwinder(k);
  try {
    applyDyndbg(k, flags);
    try {
      k.run({ ns: flags.ms * 1e6 });
    } catch (e) {
      const failure = failureReport(e);
      if (!failure) throw e;
      print('# kernel log', k.log.dmesg());
      print(failure.title, failure.lines);
      return 1;
    }
    let task;
    try {
      task = stackTask(k, t);
    } catch (e) {
      if (!(e instanceof StackTargetError)) throw e;
      const names = [...new Set(k.tasks().map((x) => x.comm))].join(', ');
      cmd.error(`error: argument TASK '${target}' is invalid: ${e.message}. Tasks: ${names}; or cpu0..cpu${flags.cpus - 1}.`, {
        exitCode: USAGE_EXIT,
      });
    }
    const s = taskStack(k, task!);
    if (flags.json) printJson({ command: 'stack', ...s });
    else out(formatTaskStack(s).join('\n') + '\n');
    return 0;
  } finally {
    k.close();
  }
}

// --- livepatch --------------------------------------------------------------------------------

interface LivepatchFlags extends BootFlags, OutputFlags {
  reliableStacktrace: boolean;
  json: boolean;
  live: boolean;
  gdb?: ListenAddress;
  gdbCheckpoints?: number;
}

async function livepatchCommand(args: string[], flags: LivepatchFlags, cmd: Command): Promise<number> {
  let steps: Step[];
  try {
    steps = args.map(parseStep);
  } catch (e) {
    if (!(e instanceof StepError)) throw e;
    return cmd.error(`error: ${e.message}`, { exitCode: USAGE_EXIT });
  }
  const tty = ttyOf(process.stderr);
  if (flags.live && !tty) cmd.error("error: option '--live' draws on a terminal, and stderr is not one", { exitCode: USAGE_EXIT });
  checkImage(cmd, flags);
  const boot = async () => {
    const lab = await Lab.boot({ ...bootOptions(flags), reliableStacktrace: flags.reliableStacktrace, traceEntry: tracesEntry(flags) });
    applyDyndbg(lab.k, flags);
    return lab;
  };
  const session = (lab: Lab) => {
    // the report's log starts at the first step, as a selftest's at start_test
    const from = lab.k.log.cursor();
    let failed: StepFailure | undefined;
    let failure: ReturnType<typeof failureReport>;
    const done: string[] = [];
    const live = flags.live ? new LiveView(lab, tty!) : undefined;
    try {
      for (const [i, step] of steps.entries()) {
        try {
          live?.step(i + 1, steps.length, step.arg);
          runStep(lab, step);
          done.push(step.arg);
        } catch (e) {
          if (e instanceof StepFailure) failed = e;
          else if (!(failure = failureReport(e))) throw e;
          break;
        }
      }
    } finally {
      live?.close();
    }
    return { from, failed, failure, done };
  };
  const monitor = (lab: Lab): Record<string, MonitorCommand> => ({
    stack: stackMonitor(lab.k),
    klp: {
      help: "/sys/kernel/livepatch and every task's patch state",
      run: () => [...sysfsReport(lab.lp), '', ...patchStateReport(lab)].join('\n') + '\n',
    },
    sysfs: {
      help: 'a file of /sys/kernel/livepatch: sysfs /sys/kernel/livepatch/P/enabled',
      run: (path) => lab.lp.sysfsRead(path).replace(/\n?$/, '\n'),
    },
  });
  const { lab, result } = await runSession(flags.gdb, boot, session, monitor, flags.gdbCheckpoints);
  const { from, failed, failure, done } = result;
  try {
    // after an oops the machine is stopped mid-instruction: its tasks are not worth a report
    writeSessionFiles(
      flags,
      () => [failure ? captureKernelReport(lab.k, '') : captureReport(lab, '')],
      `klp-lab livepatch ${args.join(' ')}`,
    );
    const log = logSince(lab.k, from);
    // after an oops the machine is stopped mid-instruction: its tasks are not worth a report
    const states = failure ? [] : patchStates(lab);
    if (flags.json) {
      printJson({
        command: 'livepatch',
        steps: steps.map((s) => ({ step: s.arg, status: done.includes(s.arg) ? 'ok' : s.arg === failed?.step ? 'failed' : 'not run' })),
        ...(failed ? { error: { step: failed.step, message: failed.message, errno: failed.errno ?? null } } : {}),
        ...(failure ? { failure: { kind: failure.title.slice(2), report: failure.lines } } : {}),
        log,
        ...(failure
          ? {}
          : {
              sysfs: sysfsEntries(lab.lp),
              transition: lab.lp.transitionPatch ? { patch: lab.lp.transitionPatch.name, target: lab.lp.targetState } : null,
              tasks: states,
            }),
        emulatedNs: lab.k.machine.clockNs,
        sha256: lab.k.log.digest(),
      });
    } else {
      print('# kernel log', formatLog(log));
      if (failure) print(failure.title, failure.lines);
      else {
        print('# /sys/kernel/livepatch', sysfsReport(lab.lp));
        print('# patch states', patchStateReport(lab, states));
        if (lab.lp.transitionPatch) print('# blocking tasks', blockingStacksReport(states));
        print('# run', [
          `emulated ${formatTimestamp(lab.k.machine.clockNs).slice(1, -1).trim()} s`,
          `event log sha256 ${lab.k.log.digest()}`,
        ]);
      }
    }
    if (failed) process.stderr.write(`klp-lab: error: ${failed.message}\n`);
    return failed || failure ? 1 : 0;
  } finally {
    lab.close();
  }
}

// --- selftest ---------------------------------------------------------------------------------

interface SelftestFlags extends OutputFlags {
  list: boolean;
  kernel?: KernelVersion;
  /** KLP_QUIRK_* constants (--quirk) */
  quirk: string[];
}

/** `selftest [SUITE...]`: "TEST: name ... ok", the log difference when not, a summary per suite. */
async function selftestCommand(names: string[], flags: SelftestFlags, cmd: Command): Promise<number> {
  const known = suites();
  for (const n of names)
    if (!known.includes(n))
      cmd.error(`error: argument SUITE '${n}' is invalid. Allowed choices are ${known.join(', ')}.`, { exitCode: USAGE_EXIT });
  const modulePath: string[] = [];
  if (flags.kernel && !flags.list) {
    const built = kernelTestModules(flags.kernel);
    out(`# the test modules of Linux ${flags.kernel} (Debian ${built.sources.debianVersion}), built in ${built.dir}:\n`);
    out(`# ${built.names.join(' ')}\n# other modules from fixtures/\n\n`);
    modulePath.push(built.dir);
  }
  let failed = 0;
  const sessions: ReportSession[] = [];
  const keep = flags.trace || flags.html;
  for (const suite of names.length ? names : known) {
    const tests = SELFTESTS.filter((t) => t.suite === suite);
    let ok = 0;
    out(`# ${suite}\n`);
    for (const t of tests) {
      if (flags.list) {
        out(`TEST: ${t.name}\n`);
        continue;
      }
      try {
        await runSelftest(
          t,
          { modulePath, quirks: flags.quirk, traceEntry: tracesEntry(flags) },
          keep ? (lab) => sessions.push(captureReport(lab, t.name)) : undefined,
        );
        ok++;
        out(`TEST: ${t.name} ... ok\n`);
      } catch (e) {
        failed++;
        out(`TEST: ${t.name} ... not ok\n${(e as Error).message}\n`);
      }
    }
    if (!flags.list) out(`# ${suite}: ${ok} of ${tests.length} ok\n\n`);
  }
  if (!flags.list) writeSessionFiles(flags, () => sessions, `klp-lab selftest ${names.join(' ')}`.trim());
  return failed ? 1 : 0;
}

// --- the program ------------------------------------------------------------------------------

const STEPS_HELP = `
Steps (one argument each; a step that fails ends the session with status 1):
  load:NAME[:k=v,...]     modprobe a patch module and wait for its transition
  insmod:NAME[:k=v,...]   modprobe without waiting (a target module, or a patch left in transition)
                          NAME is a module of fixtures/ (klp-lab list) or the path of an object
                          file (anything with a '/' or ending in .o or .ko)
  rmmod:NAME              remove a module
  disable:NAME            echo 0 > /sys/kernel/livepatch/NAME/enabled, and wait
  enable:NAME             echo 1 > /sys/kernel/livepatch/NAME/enabled
  force:NAME              echo 1 > /sys/kernel/livepatch/NAME/force
  param:NAME:P=V          echo V > /sys/module/NAME/parameters/P
  wait:NAME[:timeout=MS]  wait for NAME's transition to finish, at most MS emulated ms (60000)
  run:MS                  let the machine run MS emulated milliseconds
  cat:FUNCTION            read a /proc file through its show function (cmdline_proc_show, ...)
  cat:/sys/PATH           read a sysfs file (/sys/kernel/livepatch/..., a module's parameter,
                          a file a module made under /sys/kernel)
  offline:N, online:N     echo 0|1 > /sys/devices/system/cpu/cpuN/online

Example:
  klp-lab livepatch load:test_klp_livepatch cat:cmdline_proc_show
`;

/** The command line as a commander program; `run` receives each command's exit status. */
export function program(run: (status: Promise<number>) => Promise<void>): Command {
  const prog = new Command('klp-lab')
    .description('A laboratory for Linux-style live patching on emulated x86-64 machine code.')
    .version(PKG.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .helpCommand('help [COMMAND]', 'print the help of a command')
    .allowExcessArguments(false)
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (str, write) => write(`klp-lab: ${str}`) })
    .exitOverride();

  const json = () => new Option('--json', 'print one JSON object instead of the text report');

  addOutputOptions(addMsOption(addBootOptions(prog.command('boot', { isDefault: true })), 'emulated milliseconds to run'))
    .description('boot the image, run the workload, show the log, the vCPUs and the tasks (the default command)')
    .option('--events', 'also print the scheduler/fork/signal event log')
    .addOption(gdbOption())
    .addOption(gdbCheckpointsOption())
    .addOption(json())
    .action((flags: BootCmdFlags, cmd: Command) => run(bootCommand(flags, cmd)));

  addMsOption(addBootOptions(prog.command('stack')), 'emulated milliseconds to run before the trace')
    .description("boot and run like boot, then show a task's reliable stack trace")
    .argument('<TASK>', 'a pid, a comm (kdeep/0, ...), or cpuN for the task current on cpu N')
    .addOption(json())
    .action((target: string, flags: BootCmdFlags, cmd: Command) => run(stackCommand(target, flags, cmd)));

  addOutputOptions(addBootOptions(prog.command('livepatch')))
    .description("boot, run the steps, then show the kernel log since the first step, the sysfs tree and every task's patch state")
    .argument(
      '<STEP...>',
      'load:NAME, insmod:NAME, rmmod:NAME, disable:NAME, enable:NAME, force:NAME, param:NAME:P=V, wait:NAME[:timeout=MS], run:MS, cat:FUNCTION, cat:/sys/PATH',
    )
    .option('--no-reliable-stacktrace', 'model an architecture without reliable stack traces')
    .option('--live', 'while the steps run, show the lab as `klp-lab top` does (on stderr, a terminal)')
    .addOption(gdbOption())
    .addOption(gdbCheckpointsOption())
    .addOption(json())
    .addHelpText('after', STEPS_HELP)
    .action((steps: string[], flags: LivepatchFlags, cmd: Command) => run(livepatchCommand(steps, flags, cmd)));

  addOutputOptions(prog.command('selftest'))
    .description("run the kernel's livepatch selftests re-created as lab scenarios, each on a freshly booted lab")
    .argument('[SUITE...]', `suites to run (default all): ${suites().join(', ')}`)
    .option('--list', 'name the tests instead of running them')
    .addOption(
      new Option(
        '--kernel <VERSION>',
        "load the kernel's own test modules of that version where it has them (fetched from Debian's linux-source package and built on first use)",
      ).choices(KERNEL_VERSIONS),
    )
    .addOption(quirkOption())
    .action((names: string[], flags: SelftestFlags, cmd: Command) => run(selftestCommand(names, flags, cmd)));

  prog
    .command('list')
    .description('the workloads of the image, and the patches and modules in fixtures/')
    .addOption(imageOption())
    .action((flags: { image: string }) => run(Promise.resolve().then(() => (out(listReport(flags.image).join('\n') + '\n'), 0))));

  addShellCommand(prog, run);
  addKselftestCommand(prog, run);
  addTopCommand(prog, run);
  addExploreCommand(prog, run);

  const orc = prog.command('orc').description('ORC tables');
  orc
    .command('dump')
    .description("print FILE's ORC table as `objtool --dump=orc FILE` does")
    .argument('<FILE>', 'an object file or a linked image', elfFile)
    .action((file: string) => run(Promise.resolve().then(() => (out(orcDump(file)), 0))));
  return prog;
}

/** Runs the command line; resolves to the exit status (0 ok, 1 a failed run, 2 a usage error). */
export async function main(argv: string[]): Promise<number> {
  let status: Promise<number> = Promise.resolve(0);
  try {
    await program((s) => {
      status = s;
      return s.then(() => undefined);
    }).parseAsync(argv, { from: 'user' });
    return await status;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and --version end the parse through the same path as errors, with status 0
      return e.exitCode === 0 ? 0 : USAGE_EXIT;
    }
    throw e;
  }
}

// A reader that goes away early (`klp-lab selftest | head -3`) ends the command as SIGPIPE ends
// a C program -- quietly, status 128 + 13 -- instead of an unhandled EPIPE with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(141);
});

main(process.argv.slice(2)).then(
  (code) => {
    // not process.exit(): the stdout still queued for a pipe would be lost
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`klp-lab: error: ${e.message}\n`);
    process.exitCode = 1;
  },
);
