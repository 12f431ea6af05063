// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab explore` and `klp-lab replay`: a scenario run under schedule after schedule with a
 * consistency checker attached until one shows a violation, which is shrunk and written as a
 * replay file; and the replay of such a file, bit for bit. The campaign itself is the lab's
 * (src/lab/explore/); this file parses options, shows progress and reports.
 *
 * Exit status: explore 0 when nothing was found, 1 when a violation was; replay 0 when the run
 * is the recorded one (same log digest, same violation), 1 when it differs; 2 for bad input
 * (an unknown scenario or quirk, a bad shard, a replay file that cannot be read).
 */
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  attachConsistencyChecker,
  describeSchedule,
  explore,
  ExploreError,
  mergeShards,
  parseShard,
  QUIRKS,
  readReplay,
  replay,
  resolveScenario,
  shardResult,
  writeReplay,
  writeShardResult,
  type CampaignResult,
  type CheckerRef,
  type Progress,
  type ReplayFile,
  type Violation,
  type Lab,
  type RunOutcome,
} from '../lab/index.ts';
import { addOutputOptions, gdbCheckpointsOption, gdbOption, intInRange, parseSeed, type OutputFlags } from './options.ts';
import { runSession } from './gdb-session.ts';
import type { ListenAddress } from '../gdb/index.ts';
import { captureReport } from './html-report.ts';
import { writeSessionFiles } from './session-files.ts';

/*
 * The checker every explored and replayed run has attached, by name: worker threads load it
 * from there. This thread uses the one it imported: importing the module by its URL would load
 * a second copy of the lab when the command runs from its bundle (bin/bundle.mjs).
 */
export const CHECKER: CheckerRef = { module: new URL('../lab/index.ts', import.meta.url).href, name: 'attachConsistencyChecker' };

const USAGE_EXIT = 2;

interface ReplayFlags extends OutputFlags {
  json: boolean;
  gdb?: ListenAddress;
  gdbCheckpoints?: number;
}

type Run = (status: Promise<number>) => Promise<void>;

function out(text: string): void {
  process.stdout.write(text);
}

function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2) + '\n');
}

function seconds(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= 86_400)) throw new InvalidArgumentError('It must be a number of seconds, more than 0 and at most 86400.');
  return n;
}

/** The violation and its tasks' stacks, as explore and replay print them. */
export function violationReport(v: Violation): string[] {
  const lines = [`violation: ${v.kind} at ${(v.tsNs / 1e9).toFixed(6)} s emulated`, `  ${v.message}`];
  if (!v.tasks.length) lines.push('tasks: none named');
  for (const t of v.tasks) {
    lines.push(`task ${t.comm} pid ${t.pid}:`);
    lines.push(...(t.stack?.length ? t.stack.map((f) => `  ${f}`) : ['  (no stack trace)']));
  }
  return lines;
}

interface ExploreFlags {
  quirk?: string;
  budget?: number;
  runs?: number;
  workers: number;
  shard?: string;
  seed: bigint;
  json: boolean;
  out?: string;
  listQuirks: boolean;
  merge?: string;
  shrink: boolean;
}

/** A line on stderr, rewritten in place, while stderr is a terminal. */
function progressLine(): { show(p: Progress): void; clear(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    show(p) {
      const now = performance.now();
      if (!tty || now - last < 250) return;
      last = now;
      shown = true;
      const rate = p.seconds > 0 ? (p.schedules / p.seconds).toFixed(1) : '-';
      const best = p.first ? `violation at #${p.first.index} (${p.first.kind})` : 'no violation yet';
      process.stderr.write(
        `\r\x1b[Kexplore: ${p.schedules} schedule${p.schedules === 1 ? '' : 's'}, ${rate}/s, ${p.outcomes} distinct outcome${p.outcomes === 1 ? '' : 's'}, ${best}`,
      );
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

function isFolder(path: string): boolean {
  if (path.endsWith('/')) return true;
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function defaultReplayName(scenario: string, quirk: string | null): string {
  return `${scenario}${quirk && quirk !== scenario ? `+${quirk}` : ''}.replay.json`;
}

function listQuirks(): number {
  const w = Math.max(...QUIRKS.map((q) => q.name.length));
  for (const q of QUIRKS) out(`${q.name.padEnd(w)}  ${q.commit} ("${q.subject}")\n${' '.repeat(w + 2)}${q.failure}\n`);
  return 0;
}

function reportFound(replayFile: ReplayFile, path: string | null, extra: string[]): void {
  out(
    [
      ...extra,
      `schedule: ${describeSchedule(replayFile.schedule, replayFile.scenario)}`,
      ...(replayFile.original ? [`  shrunk from ${describeSchedule(replayFile.original, replayFile.scenario)}`] : []),
      ...violationReport(replayFile.violation),
      ...(path ? [`replay file: ${path} (log sha256 ${replayFile.digest}); klp-lab replay ${path}`] : []),
    ].join('\n') + '\n',
  );
}

function mergeCommand(dir: string, flags: ExploreFlags): number {
  const m = mergeShards(dir);
  let path: string | null = null;
  if (m.found) {
    path = flags.out ?? defaultReplayName(m.scenario, m.quirk);
    writeReplay(path, m.found.replay);
  }
  if (flags.json) {
    printJson({ found: !!m.found, schedules: m.schedules, seconds: m.seconds, replay: path, shards: m.shards, missing: m.missing });
    return m.found ? 1 : 0;
  }
  const head = [
    `merged ${m.shards.length} of ${m.n} shards of ${m.scenario}${m.quirk ? ` with quirk ${m.quirk}` : ''}, campaign seed ${m.seed}` +
      (m.missing.length ? ` (missing: ${m.missing.join(', ')})` : ''),
  ];
  if (!m.found) {
    out(`${head[0]}\nno violation in ${m.schedules} schedules (${m.seconds.toFixed(1)} s), ${m.outcomes} distinct outcomes\n`);
    return 0;
  }
  reportFound(m.found.replay, path, [...head, `violation in schedule #${m.found.index}, ${m.schedules} schedules in all`]);
  return 1;
}

async function exploreCommand(name: string | undefined, flags: ExploreFlags, cmd: Command): Promise<number> {
  const usage = (message: string): never => cmd.error(`error: ${message}`, { exitCode: USAGE_EXIT, code: 'klp-lab.invalidOption' });
  try {
    if (flags.listQuirks) return listQuirks();
    if (flags.merge !== undefined) {
      if (name !== undefined || flags.quirk !== undefined)
        usage('--merge DIR takes no SCENARIO or --quirk: the shards name their campaign');
      return mergeCommand(flags.merge, flags);
    }
    if (flags.budget !== undefined && flags.runs !== undefined) usage('give --budget SECONDS or --runs N, not both');
    const { scenario, quirk } = resolveScenario(name, flags.quirk);
    const envK = process.env.JOB_COMPLETION_INDEX ?? process.env.SLURM_ARRAY_TASK_ID;
    const shard = flags.shard === undefined ? undefined : parseShard(flags.shard, envK);
    const checker = attachConsistencyChecker;
    const progress = flags.json ? undefined : progressLine();
    const opts = {
      scenario,
      ...(quirk ? { quirk } : {}),
      seed: flags.seed,
      ...(flags.runs !== undefined ? { runs: flags.runs } : { budgetMs: (flags.budget ?? 60) * 1000 }),
      workers: flags.workers,
      ...(shard ? { shard } : {}),
      checker,
      checkerRef: CHECKER,
      shrink: flags.shrink,
      onProgress: progress?.show,
    };
    let r: CampaignResult;
    try {
      r = await explore(opts);
    } finally {
      progress?.clear();
    }
    const title = `explore: ${scenario.name}${quirk ? ` with quirk ${quirk.name} (${quirk.commit})` : ''}, campaign seed ${flags.seed}${
      shard ? `, shard ${shard.k}/${shard.n}` : ''
    }, ${flags.workers} worker${flags.workers > 1 ? 's' : ''}`;
    let path: string | null = null;
    let resultFile: string | null = null;
    if (shard) {
      // --out DIR/ (or an existing folder): the default name in it, so that every shard of a
      // batch job can be given the same --out
      const name = `explore-${scenario.name}${quirk ? `+${quirk.name}` : ''}-shard-${shard.k}-of-${shard.n}.json`;
      resultFile = flags.out === undefined ? name : isFolder(flags.out) ? join(flags.out, name) : flags.out;
      writeShardResult(resultFile, shardResult(opts, r));
    } else if (r.found) {
      path = flags.out ?? defaultReplayName(scenario.name, quirk?.name ?? null);
      writeReplay(path, r.found.replay);
    }
    if (flags.json) {
      printJson({
        found: !!r.found,
        schedules: r.schedules,
        seconds: r.seconds,
        replay: path,
        ...(resultFile ? { result: resultFile } : {}),
      });
      return r.found ? 1 : 0;
    }
    const coverage = `${r.outcomes.length} distinct outcome${r.outcomes.length === 1 ? '' : 's'}`;
    const shardLine = resultFile ? [`shard result: ${resultFile} (klp-lab explore --merge ${dirname(resultFile)})`] : [];
    if (!r.found) {
      out(
        `${title}\nno violation in ${r.schedules} schedules (${r.seconds.toFixed(1)} s), ${coverage}\n${shardLine.map((l) => `${l}\n`).join('')}`,
      );
      return 0;
    }
    reportFound(r.found.replay, path, [
      title,
      `violation in schedule #${r.found.index} after ${r.schedules} schedules (${r.seconds.toFixed(1)} s), ${coverage}`,
      `shrunk in ${r.found.shrinkTries} runs, ${r.found.shrinkKept} changes kept`,
      ...shardLine,
    ]);
    return 1;
  } catch (e) {
    if (e instanceof ExploreError) usage(e.message);
    throw e;
  }
}

async function replayCommand(file: string, flags: ReplayFlags, cmd: Command): Promise<number> {
  let r: ReplayFile;
  try {
    r = readReplay(file);
  } catch (e) {
    if (e instanceof ExploreError) cmd.error(`error: ${e.message}`, { exitCode: USAGE_EXIT, code: 'klp-lab.invalidArgument' });
    throw e;
  }
  const atEnd = (lab: Lab) => writeSessionFiles(flags, () => [captureReport(lab, r.scenario.name)], `klp-lab replay ${file}`);
  // under gdb the stub drives the run: it may boot and replay it again to go backwards
  const drive = flags.gdb
    ? (boot: () => Promise<Lab>, run: (lab: Lab) => RunOutcome) => runSession(flags.gdb, boot, run, () => ({}), flags.gdbCheckpoints)
    : undefined;
  const { outcome, sameDigest, sameViolation } = await replay(r, attachConsistencyChecker, { atEnd, drive });
  if (flags.json) {
    printJson({
      reproduced: sameDigest && sameViolation,
      sameDigest,
      digest: outcome.digest,
      recorded: r.digest,
      violation: outcome.violation ?? null,
    });
  } else {
    out(
      [
        `replay: ${r.scenario.name}${r.quirk ? ` with quirk ${r.quirk}` : ''}, campaign seed ${r.campaign.seed}`,
        `schedule: ${describeSchedule(r.schedule, r.scenario)}`,
        sameDigest
          ? `log sha256 ${outcome.digest}: the recorded one, bit for bit`
          : `log sha256 ${outcome.digest}: DIFFERS from the recorded ${r.digest}`,
        ...(outcome.violation ? violationReport(outcome.violation) : ['no violation this time']),
      ].join('\n') + '\n',
    );
  }
  if (!sameDigest || !sameViolation)
    process.stderr.write(
      `klp-lab: error: the replay differs from the recording: ${!sameDigest ? 'log digest' : ''}${!sameDigest && !sameViolation ? ' and ' : ''}${
        !sameViolation ? `violation (${outcome.violation?.kind ?? 'none'}, recorded ${r.violation.kind})` : ''
      }\n`,
    );
  return sameDigest && sameViolation ? 0 : 1;
}

export function addExploreCommand(prog: Command, run: Run): void {
  prog
    .command('explore')
    .description(
      'run a scenario under many schedules with the consistency checker until one shows a violation; shrink it and write a replay file',
    )
    .argument('[SCENARIO]', "a built-in scenario (basic, or a quirk's session without its quirk) or a JSON file of a Scenario")
    .option('--quirk <Q>', 'boot with this historic bug brought back (--list-quirks); alone, explore its own scenario')
    .addOption(new Option('--budget <SECONDS>', 'host seconds to spend (default 60)').argParser(seconds))
    .addOption(new Option('--runs <N>', 'schedules in the campaign: indices 0..N-1').argParser(intInRange(1, 100_000_000)))
    .addOption(new Option('--workers <N>', 'worker threads, one per host core').default(1).argParser(intInRange(1, 256)))
    .option(
      '--shard <K/N>',
      'run the schedule indices i with i mod N = K (K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID if only N is given) and write a result file',
    )
    .addOption(
      new Option('--seed <S>', 'the campaign seed: schedule i of a campaign is always the same').default(1n, '1').argParser(parseSeed),
    )
    .option('--json', 'print one JSON object {found, schedules, seconds, replay}', false)
    .option('--out <FILE>', "where the replay file (or a shard's result file) goes")
    .option('--no-shrink', 'record the violating schedule as found')
    .option('--list-quirks', 'list the quirks, each with the commit whose fix it undoes', false)
    .option('--merge <DIR>', "join the shards' result files in DIR")
    .action((name: string | undefined, flags: ExploreFlags, cmd: Command) => run(exploreCommand(name, flags, cmd)));

  const replayCmd = prog
    .command('replay')
    .description('rerun a replay file bit for bit: the same log digest, the violation, its tasks and their stacks')
    .argument('<FILE>', 'a replay file written by explore')
    .option('--json', 'print one JSON object', false)
    .addOption(gdbOption())
    .addOption(gdbCheckpointsOption());
  addOutputOptions(replayCmd).action((file: string, flags: ReplayFlags, cmd: Command) => run(replayCommand(file, flags, cmd)));
}
