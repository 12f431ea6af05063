// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A command's session run directly or, with --gdb, under the GDB stub (src/gdb), which may boot
 * and run it again to go backwards: boot, livepatch and replay drive their sessions this way.
 */
import type { Kernel } from '../kernel/index.ts';
import { serveGdb, type GdbLab, type ListenAddress, type MonitorCommand } from '../gdb/index.ts';
import { parseStackTarget, stackReport } from './orc.ts';

/** Runs a session, under gdb when --gdb asked for it (src/gdb: the session may be replayed). */
export async function runSession<L extends GdbLab, T>(
  gdb: ListenAddress | undefined,
  boot: () => Promise<L>,
  session: (lab: L) => T,
  monitor: (lab: L) => Record<string, MonitorCommand>,
  /** Instructions between two checkpoints of reverse execution (the stub's default if undefined). */
  checkpointInsns?: number,
): Promise<{ lab: L; result: T }> {
  if (!gdb) {
    const lab = await boot();
    try {
      return { lab, result: session(lab) };
    } catch (e) {
      lab.close();
      throw e;
    }
  }
  return serveGdb({
    boot,
    run: session,
    listen: gdb,
    monitor,
    checkpointInsns,
    onListening: (a) => process.stderr.write(`klp-lab: waiting for gdb on ${a.host}:${a.port} (target remote ${a.host}:${a.port})\n`),
  });
}

/** `monitor stack TASK` */
export function stackMonitor(k: Kernel): MonitorCommand {
  return { help: "a task's reliable ORC stack trace (a pid, a comm, or cpuN)", run: (arg) => stackReport(k, parseStackTarget(arg)) };
}
