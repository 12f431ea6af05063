// SPDX-License-Identifier: GPL-2.0-or-later
// The machine reports on a kernel stopped before its cpus are up: no task yet, no idle task on
// a cpu still starting, and still a report rather than a read of address 0.
import { expect, it } from 'vitest';
import { withKernel } from '../helpers.ts';
import { cpuReport, taskReport } from '../../src/lab/report.ts';
import { allTasks } from '../../src/kernel/task.ts';

it('reports a machine stopped one round after power-on', async () => {
  await withKernel(
    { cpus: 2, workload: 'default' },
    (k) => {
      k.run({ ns: 1e6 });
      expect(allTasks(k).map((t) => t.address)).toEqual([]);
      expect(
        cpuReport(k)
          .slice(1)
          .map((l) => l.split(/\s+/).slice(0, 4)),
      ).toEqual([
        ['0', 'no', 'running', '-'],
        ['1', 'no', 'running', '-'],
      ]);
      expect(taskReport(k)).toHaveLength(1);
      // once up, every cpu's idle task is there
      k.run({ ns: 100e6 });
      expect(
        allTasks(k)
          .slice(0, 2)
          .map((t) => t.comm),
      ).toEqual(['swapper/0', 'swapper/1']);
    },
    { unwinder: false },
  );
});
