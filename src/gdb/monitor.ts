// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `monitor` commands (qRcmd): the lab's state while gdb has it stopped. They read, never run
 * the machine (a guest show function would move the run away from what a replay gives).
 */
import { resolve } from 'node:path';
import type { Kernel } from '../kernel/index.ts';
import { taskReport } from '../lab/index.ts';

/** Runs with every vCPU stopped; returns the text gdb prints. */
export type MonitorCommand = { help: string; run(args: string): string };

export class MonitorError extends Error {}

interface PositionSource {
  describePosition(): string;
}

/** The stub's own commands; the caller adds those that need more of the lab than its kernel. */
export function builtinMonitor(k: Kernel, stub: PositionSource): Record<string, MonitorCommand> {
  return {
    tasks: { help: 'every task: pid, comm, state, cpu, patch state', run: () => taskReport(k).join('\n') + '\n' },
    modules: {
      help: 'loaded modules: name, file, and the address of each placed section (for add-symbol-file)',
      run: () =>
        (k.modules?.list() ?? [])
          .map((m) =>
            [
              m.name,
              resolve(m.file),
              ...m.layout.sections
                .filter((s) => s.section.name.startsWith('.') && s.section.size > 0)
                .map((s) => `${s.section.name}=0x${s.address.toString(16)}`),
            ].join('\t'),
          )
          .map((l) => l + '\n')
          .join(''),
    },
    position: { help: "where the run is: instructions of every vCPU, the host's writes, rounds", run: () => stub.describePosition() },
  };
}

/** Runs one command line; unknown commands and failures come back as text, not as errors. */
export function runMonitor(commands: Record<string, MonitorCommand>, line: string): string {
  const [name, ...rest] = line.trim().split(/\s+/);
  if (!name || name === 'help')
    return (
      'klp-lab monitor commands:\n' +
      Object.entries(commands)
        .map(([n, c]) => `  ${n.padEnd(10)} ${c.help}\n`)
        .join('')
    );
  const cmd = commands[name];
  if (!cmd) return `klp-lab: unknown monitor command '${name}' (monitor help lists them)\n`;
  try {
    return cmd.run(rest.join(' '));
  } catch (e) {
    return `klp-lab: monitor ${name}: ${(e as Error).message}\n`;
  }
}
