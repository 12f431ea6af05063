#!/usr/bin/env -S npx tsx
// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * klp-lab command line. `boot` (the default) boots a firmware image on N emulated vCPUs, runs
 * a workload for a while and shows the kernel log and what every vCPU and task is doing.
 */
import { parseArgs } from 'node:util';
import { bootKernel, workloads, DEFAULT_IMAGE } from '../kernel/boot.ts';
import { KernelImage } from '../kernel/image.ts';
import { KernelOops, KernelPanic } from '../kernel/kernel.ts';
import { cpuReport, runSummary, taskReport } from '../lab/report.ts';
import { orcDump, parseStackTarget, stackReport } from './orc.ts';
import { parseStep, patchStateReport, runStep, sysfsReport } from './livepatch.ts';
import { Lab } from '../lab/selftest.ts';
import { SELFTESTS, runSelftest, suites } from '../lab/selftests/index.ts';

const USAGE = `usage: klp-lab [boot] [options]
       klp-lab stack TASK|cpuN [options]
       klp-lab livepatch STEP... [options]
       klp-lab selftest [SUITE...] [--list]
       klp-lab orc dump FILE

  boot        boot the image, run the workload, show the log, the vCPUs and the tasks
  stack       boot and run like boot, then show the reliable stack trace of a task (pid or
              comm) or of the task current on a cpu
  livepatch   boot, run the steps (load:NAME[:k=v,...] insmod:NAME rmmod:NAME disable:NAME
              enable:NAME force:NAME param:NAME:P=V wait:NAME run:MS cat:FUNCTION), then show
              the kernel log since the first step, the sysfs tree and every task's patch state
  selftest    run the kernel's livepatch selftests re-created as lab scenarios (test-livepatch,
              test-callbacks, test-shadow-vars, test-state, test-sysfs, test-syscall; all, or
              the suites named), each on a freshly booted lab, reporting like the scripts;
              --list names them
  orc dump    print FILE's ORC table as \`objtool --dump=orc FILE\` does

options:
  --image FILE      kernel image (default fixtures/kernel.elf)
  --cpus N          number of vCPUs (default 4)
  --workload NAME   ${'workload to run (default "default"; --workload help lists them)'}
  --ms N            emulated milliseconds to run (default 1000)
  --seed N          seed of the vCPU interleaving (default 1)
  --preempt MODE    none (default) or full
  --quantum N       instructions per vCPU per round (default 5000)
  --events          also print the scheduler/fork/signal event log
  --no-reliable-stacktrace   livepatch: an architecture without reliable stack traces
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      image: { type: 'string' },
      cpus: { type: 'string', default: '4' },
      workload: { type: 'string', default: 'default' },
      ms: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      preempt: { type: 'string', default: 'none' },
      quantum: { type: 'string', default: '5000' },
      events: { type: 'boolean', default: false },
      'no-reliable-stacktrace': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const cmd = positionals[0] ?? 'boot';
  if (values.help || cmd === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === 'orc') {
    if (positionals[1] !== 'dump' || !positionals[2]) throw new Error('usage: klp-lab orc dump FILE');
    process.stdout.write(orcDump(positionals[2]));
    return 0;
  }
  if (cmd === 'livepatch') return livepatchSession(positionals.slice(1), values);
  if (cmd === 'selftest') return selftests(positionals.slice(1), values.list === true);
  if (cmd !== 'boot' && cmd !== 'stack') {
    process.stderr.write(`klp-lab: unknown command '${cmd}'\n${USAGE}`);
    return 2;
  }
  if (values.workload === 'help') {
    const img = KernelImage.load(values.image ?? DEFAULT_IMAGE);
    process.stdout.write([...workloads(img).keys()].join('\n') + '\n');
    return 0;
  }
  if (values.preempt !== 'none' && values.preempt !== 'full') throw new Error(`--preempt must be none or full, not ${values.preempt}`);
  const k = await bootKernel({
    image: values.image,
    cpus: Number(values.cpus),
    workload: values.workload,
    seed: BigInt(values.seed!),
    preempt: values.preempt,
    quantum: Number(values.quantum),
  });
  let status = 0;
  try {
    const r = k.run({ ns: Number(values.ms) * 1e6 });
    if (cmd === 'stack') {
      if (!positionals[1]) throw new Error('usage: klp-lab stack TASK|cpuN');
      process.stdout.write(stackReport(k, parseStackTarget(positionals[1])) + '\n');
      return 0;
    }
    print('# kernel log', k.log.dmesg());
    if (values.events)
      print(
        '# events',
        k.log.events
          .filter((e) => e.type !== 'printk')
          .map((e) => `${(e.tsNs / 1e6).toFixed(3)}ms cpu${e.cpu} pid${e.pid} ${e.type} ${e.a} ${e.b} ${e.c}`),
      );
    print('# vCPUs', cpuReport(k));
    print('# tasks', taskReport(k));
    print('# run', [runSummary(r), `event log sha256 ${k.log.digest()}`]);
  } catch (e) {
    print('# kernel log', k.log.dmesg());
    if (e instanceof KernelOops) print('# oops', e.report.split('\n'));
    else if (e instanceof KernelPanic) print('# panic', [e.message]);
    else throw e;
    status = 1;
  } finally {
    k.close();
  }
  return status;
}

/** `livepatch STEP...`: the steps on a booted lab, then the log, sysfs and patch states. */
async function livepatchSession(args: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  if (!args.length) throw new Error('usage: klp-lab livepatch STEP... (klp-lab --help lists the steps)');
  const steps = args.map(parseStep);
  const lab = await Lab.boot({
    image: values.image as string | undefined,
    cpus: Number(values.cpus),
    workload: values.workload as string,
    seed: BigInt(values.seed as string),
    preempt: values.preempt === 'full' ? 'full' : 'none',
    quantum: Number(values.quantum),
    reliableStacktrace: !values['no-reliable-stacktrace'],
  });
  try {
    lab.startTest();
    try {
      for (const step of steps) runStep(lab, step);
    } catch (e) {
      if (!(e instanceof KernelOops || e instanceof KernelPanic)) throw e;
      print('# kernel log', lab.logSinceStart());
      print(e instanceof KernelOops ? '# oops' : '# panic', e instanceof KernelOops ? e.report.split('\n') : [e.message]);
      return 1;
    }
    print('# kernel log', lab.logSinceStart());
    print('# /sys/kernel/livepatch', sysfsReport(lab.lp));
    print('# patch states', patchStateReport(lab));
    print('# run', [`emulated ${(lab.k.machine.clockNs / 1e6).toFixed(3)} ms`, `event log sha256 ${lab.k.log.digest()}`]);
  } finally {
    lab.close();
  }
  return 0;
}

/** `selftest [SUITE...]`: "TEST: name ... ok", the log difference when not, a summary per suite. */
async function selftests(names: string[], list: boolean): Promise<number> {
  const known = suites();
  for (const n of names) if (!known.includes(n)) throw new Error(`unknown suite '${n}': the suites are ${known.join(', ')}`);
  let failed = 0;
  for (const suite of names.length ? names : known) {
    const tests = SELFTESTS.filter((t) => t.suite === suite);
    let ok = 0;
    process.stdout.write(`# ${suite}\n`);
    for (const t of tests) {
      if (list) {
        process.stdout.write(`TEST: ${t.name}\n`);
        continue;
      }
      try {
        await runSelftest(t);
        ok++;
        process.stdout.write(`TEST: ${t.name} ... ok\n`);
      } catch (e) {
        failed++;
        process.stdout.write(`TEST: ${t.name} ... not ok\n${(e as Error).message}\n`);
      }
    }
    if (!list) process.stdout.write(`# ${suite}: ${ok} of ${tests.length} ok\n\n`);
  }
  return failed ? 1 : 0;
}

function print(title: string, lines: readonly string[]): void {
  process.stdout.write(`${title}\n${lines.join('\n')}\n\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`klp-lab: ${e.message}\n`);
    process.exit(1);
  },
);
