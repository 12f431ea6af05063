// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Removing a function's last patch (klp_unpatch_func): the func must stay on the func_stack
 * until ftrace is unregistered and every handler already running for its ops has returned. A
 * getpid hammer on every cpu is nearly always inside the handler, or on its way into it through
 * the trampoline, when the host stops the vCPUs; if the func left the list first, such a handler
 * found the list empty ("WARNING: klp_ftrace_handler: empty func_stack", twice in most
 * load/disable cycles of test_klp_syscall).
 */
import { describe, expect, it } from 'vitest';
import { useLab } from '../helpers.ts';

const boot = useLab({ cpus: 4, workload: 'getpid' });

describe('klp_unpatch_func', () => {
  it('never leaves a running handler an empty func_stack (getpid, load/disable cycles)', async () => {
    const lab = await boot();
    for (let i = 0; i < 8; i++) {
      lab.loadLp('test_klp_syscall');
      lab.disableLp('test_klp_syscall');
      lab.unloadLp('test_klp_syscall');
    }
    lab.k.runFor(20);
    const warnings = lab.logSinceStart().filter((l) => l.includes('WARNING'));
    expect(warnings).toEqual([]);
    // every cycle did run: the patched getpid was called
    expect(lab.logSinceStart().filter((l) => l === "livepatch: 'test_klp_syscall': unpatching complete")).toHaveLength(8);
  });
});
