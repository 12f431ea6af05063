// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `klp-lab list`: what the lab has to offer -- the image's workloads (from its layout section)
 * and the relocatable objects in fixtures/, livepatch modules apart from ordinary ones (the
 * .modinfo livepatch=Y tag tells), each with its MODULE_DESCRIPTION when it has one.
 */
import { readdirSync } from 'node:fs';
import { workloads, KernelImage } from '../kernel/index.ts';
import { ElfFile, readModinfo } from '../elf/index.ts';
import { FIXTURES } from '../lab/index.ts';

export interface FixtureModule {
  name: string;
  livepatch: boolean;
  description?: string;
}

/** The modules of fixtures/, by name, with what their .modinfo says. */
export function fixtureModules(dir = FIXTURES): FixtureModule[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ko'))
    .sort()
    .map((f) => {
      const info = readModinfo(ElfFile.read(`${dir}${f}`));
      return {
        name: f.slice(0, -3),
        livepatch: info.get('livepatch')?.includes('Y') ?? false,
        description: info.get('description')?.[0],
      };
    });
}

export function listReport(image: string): string[] {
  const mods = fixtureModules();
  const line = (m: FixtureModule) => `  ${m.name}${m.description ? `  -- ${m.description}` : ''}`;
  return [
    '# workloads (--workload NAME)',
    ...[...workloads(KernelImage.load(image)).keys()].map((w) => `  ${w}`),
    '',
    '# livepatch modules (livepatch load:NAME)',
    ...mods.filter((m) => m.livepatch).map(line),
    '',
    '# modules (livepatch insmod:NAME)',
    ...mods.filter((m) => !m.livepatch).map(line),
  ];
}
