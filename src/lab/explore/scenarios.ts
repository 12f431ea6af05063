// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Which scenario a campaign explores: a built-in one by name (`basic`, or the session of a
 * quirk, run without the quirk), a quirk's own (`--quirk Q` alone), or a Scenario in a JSON
 * file. `--quirk Q` adds Q's boot quirk to whichever it is, so the same campaign with and
 * without a quirk differs by that alone. Every problem is an ExploreError naming the name or
 * the file and what is wrong, found before anything boots.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_IMAGE, KernelImage, workloads } from '../../kernel/index.ts';
import { QUIRKS, findQuirk, type Quirk } from '../quirks.ts';
import type { Scenario } from '../scenario.ts';
import { parseStep, StepError } from '../steps.ts';

/** Bad input to the explorer or to replay: the command line reports it and exits with status 2. */
export class ExploreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExploreError';
  }
}

/** Scenarios of the explorer's own, beside the quirks' sessions. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'basic',
    description: 'test_klp_livepatch loaded, read through and disabled under the default workload',
    boot: { cpus: 4, workload: 'default' },
    steps: ['run:100', 'load:test_klp_livepatch', 'cat:cmdline_proc_show', 'disable:test_klp_livepatch', 'rmmod:test_klp_livepatch'],
  },
];

/** A scenario without a given boot quirk, or with it. */
function withQuirks(s: Scenario, quirks: readonly string[]): Scenario {
  return { ...s, boot: { ...s.boot, quirks } };
}

/** The built-in scenarios by name: the explorer's own, then each quirk's session without its quirk. */
export function builtinScenarios(): Scenario[] {
  const out = [...SCENARIOS];
  for (const q of QUIRKS) if (!out.some((s) => s.name === q.scenario.name)) out.push(withQuirks(q.scenario, []));
  return out;
}

/** A Scenario's fields checked one by one; the error names the file and the field. */
export function checkScenario(value: unknown, where: string): Scenario {
  const bad = (what: string) => new ExploreError(`${where}: ${what}`);
  if (typeof value !== 'object' || value === null) throw bad('a scenario is a JSON object {name, description, boot, steps}');
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || !v.name) throw bad("'name' must be a non-empty string");
  if (v.description !== undefined && typeof v.description !== 'string') throw bad("'description' must be a string");
  if (typeof v.boot !== 'object' || v.boot === null || Array.isArray(v.boot)) throw bad("'boot' must be an object of boot options");
  const boot = v.boot as Record<string, unknown>;
  for (const k of ['seed', 'quantum']) if (k in boot) throw bad(`'boot.${k}' is the schedule's, not the scenario's`);
  if (boot.quirks !== undefined && !(Array.isArray(boot.quirks) && boot.quirks.every((q) => typeof q === 'string')))
    throw bad("'boot.quirks' must be a list of KLP_QUIRK_* names");
  if (!Array.isArray(v.steps) || !v.steps.length || !v.steps.every((s) => typeof s === 'string'))
    throw bad("'steps' must be a non-empty list of step strings");
  for (const s of v.steps as string[]) {
    try {
      parseStep(s);
    } catch (e) {
      if (e instanceof StepError) throw bad(e.message);
      throw e;
    }
  }
  return {
    name: v.name,
    description: (v.description as string | undefined) ?? '',
    boot: boot as Scenario['boot'],
    steps: v.steps as string[],
  };
}

/**
 * What only the image can tell about a scenario's boot options (its workloads, cpus and
 * quirks), checked before anything boots; the error names where the scenario came from.
 */
export function checkBoot(s: Scenario, where: string): void {
  const b = s.boot;
  const bad = (what: string) => new ExploreError(`${where}: ${what}`);
  let image: KernelImage;
  try {
    image = KernelImage.load(b.image ?? DEFAULT_IMAGE);
  } catch (e) {
    throw bad(`boot.image: ${(e as Error).message}`);
  }
  const names = [...workloads(image).keys()];
  if (b.workload !== undefined && !names.includes(b.workload))
    throw bad(`unknown workload '${b.workload}': the image has ${names.join(', ')}`);
  const nr = image.layout.constant('NR_CPUS');
  if (b.cpus !== undefined && !(Number.isInteger(b.cpus) && b.cpus >= 1 && b.cpus <= nr))
    throw bad(`boot.cpus must be a whole number from 1 to ${nr}`);
  if (b.preempt !== undefined && b.preempt !== 'none' && b.preempt !== 'full') throw bad("boot.preempt must be 'none' or 'full'");
  const known = [...image.layout.constants('KLP_QUIRK_')].map(([name]) => name);
  for (const q of b.quirks ?? []) if (!known.includes(q)) throw bad(`unknown quirk '${q}': the image has ${known.join(', ') || 'none'}`);
}

function readScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ExploreError(`cannot read scenario file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ExploreError(`scenario file '${file}' is not JSON: ${(e as Error).message}`);
  }
  const scenario = checkScenario(json, `scenario file '${file}'`);
  checkBoot(scenario, `scenario file '${file}'`);
  return scenario;
}

export interface ExploredScenario {
  scenario: Scenario;
  quirk?: Quirk;
}

export function unknownQuirk(name: string): ExploreError {
  return new ExploreError(`unknown quirk '${name}': the lab has ${QUIRKS.map((q) => q.name).join(', ')} (--list-quirks)`);
}

/**
 * The scenario `explore [SCENARIO] [--quirk Q]` names: SCENARIO a built-in name or a JSON file
 * (anything with a '/' or ending in .json), Q a quirk's short name or KLP_QUIRK_* constant.
 */
export function resolveScenario(name: string | undefined, quirkName: string | undefined): ExploredScenario {
  const quirk = quirkName === undefined ? undefined : findQuirk(quirkName);
  if (quirkName !== undefined && !quirk) throw unknownQuirk(quirkName);
  let scenario: Scenario;
  if (name === undefined) {
    if (!quirk) throw new ExploreError('name a SCENARIO, a quirk (--quirk Q) or both');
    scenario = quirk.scenario;
  } else if (name.includes('/') || name.endsWith('.json')) {
    scenario = readScenarioFile(name);
  } else {
    const found = builtinScenarios().find((s) => s.name === name);
    if (!found)
      throw new ExploreError(
        `unknown scenario '${name}': built-in ones are ${builtinScenarios()
          .map((s) => s.name)
          .join(', ')}, or the path of a JSON file`,
      );
    scenario = found;
  }
  if (quirk && !(scenario.boot.quirks ?? []).includes(quirk.constant))
    scenario = withQuirks(scenario, [...(scenario.boot.quirks ?? []), quirk.constant]);
  return quirk ? { scenario, quirk } : { scenario };
}
