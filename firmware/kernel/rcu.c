// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Grace periods in the manner of RCU-sched: code that runs with preemption off (the livepatch
 * handler looking at a func_stack) is a read-side section, and a cpu is known to be out of any
 * such section once it passes a quiescent state: a context switch, an idle loop iteration,
 * cond_resched(), a tick in user mode. synchronize_rcu() waits until every other online cpu
 * has passed one.
 */
#include <lab/sched.h>
#include <lab/wait.h>

void synchronize_rcu(void)
{
	unsigned long snap[NR_CPUS];
	int cpu, me = smp_processor_id();

	for (cpu = 0; cpu < (int)nr_cpu_ids; cpu++)
		snap[cpu] = READ_ONCE(per_cpu[cpu].rcu_qs);
	for (cpu = 0; cpu < (int)nr_cpu_ids; cpu++) {
		if (cpu == me || !READ_ONCE(per_cpu[cpu].online))
			continue;
		/* a cpu that goes offline meanwhile holds no read-side section any more */
		while (READ_ONCE(per_cpu[cpu].rcu_qs) == snap[cpu] && cpu_online(cpu)) {
			set_current_state(TASK_UNINTERRUPTIBLE);
			schedule_timeout(1);
		}
	}
}
