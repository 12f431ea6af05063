// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `monitor` commands (qRcmd): the lab's state while gdb has it stopped. They read, never run
 * the machine (a guest show function would move the run away from what a replay gives).
 */
import { resolve } from 'node:path';
import type { Kernel } from '../kernel/index.ts';
import { taskReport } from '../lab/index.ts';
import { detectLayout } from '../orc/index.ts';

const hexa = (v: bigint | number) => '0x' + v.toString(16);

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
                .map((s) => `${s.section.name}=${hexa(s.address)}/${hexa(s.section.size)}`),
            ].join('\t'),
          )
          .map((l) => l + '\n')
          .join(''),
    },
    image: { help: 'the image file (for gdb `file`)', run: () => resolve(k.image.path) + '\n' },
    orc: {
      help: "the ORC tables in guest memory (layout, .orc_unwind_ip and .orc_unwind of the image and each module), for the helper's unwinder",
      run: () => {
        const elf = k.image.elf;
        const lines = [];
        const ip = elf.section('.orc_unwind_ip');
        const u = elf.section('.orc_unwind');
        const layout = detectLayout(elf);
        if (ip && u) lines.push(['vmlinux', layout, hexa(ip.addr), hexa(ip.size), hexa(u.addr), hexa(u.size)].join('\t'));
        for (const m of k.modules?.list() ?? []) {
          const mi = m.layout.sections.find((s) => s.section.name === '.orc_unwind_ip');
          const mu = m.layout.sections.find((s) => s.section.name === '.orc_unwind');
          if (mi && mu)
            lines.push([m.name, layout, hexa(mi.address), hexa(mi.section.size), hexa(mu.address), hexa(mu.section.size)].join('\t'));
        }
        return lines.map((l) => l + '\n').join('');
      },
    },
    task: {
      help: 'one task (a pid or a comm): its task_struct and the address of its patch_state',
      run: (arg) => {
        const t = k.tasks().find((x) => String(x.pid) === arg || x.comm === arg);
        if (!t) throw new MonitorError(`no task '${arg}'`);
        const ps = t.address + BigInt(k.layout.offset('task_struct', 'patch_state'));
        return `task ${t.comm} pid ${t.pid} task_struct ${hexa(t.address)} patch_state ${hexa(ps)} = ${t.patchState}\n`;
      },
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
