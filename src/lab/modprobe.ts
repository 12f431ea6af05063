// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Where `modprobe NAME` finds a module: the folders of a search path in order (the kernel's
 * own test modules built for the lab first, when a session asks for them, then the lab's
 * fixtures), NAME.ko, or NAME.o for an object built the lab's older way.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** No folder of the path holds the module: modprobe's FATAL line, with the folders searched. */
export class ModuleNotFoundError extends Error {
  constructor(
    readonly module: string,
    readonly path: readonly string[],
  ) {
    super(`modprobe: FATAL: Module ${module} not found in directory ${path.join(':')}`);
    this.name = 'ModuleNotFoundError';
  }
}

export function findModule(name: string, path: readonly string[]): string {
  for (const dir of path)
    for (const ext of ['.ko', '.o']) {
      const file = join(dir, `${name}${ext}`);
      if (existsSync(file)) return file;
    }
  throw new ModuleNotFoundError(name, path);
}
