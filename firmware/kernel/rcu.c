// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Grace periods in the manner of RCU-sched: code that runs with preemption off (the livepatch
 * handler looking at a func_stack) is a read-side section, and a cpu is known to be out of any
 * such section once it passes a quiescent state: a context switch, an idle loop iteration,
 * cond_resched(), a tick in user mode. synchronize_rcu() waits until every other online cpu
 * has passed one.
 *
 * A cpu may never pass one by itself: a task looping on a short system call, alone on its cpu,
 * neither switches nor calls cond_resched(), and if every tick happens to hit it in the kernel
 * no tick counts either. As RCU's force-quiescent-state pass does, a cpu still holding the grace
 * period up after a few jiffies is made to reschedule: its task goes through __schedule() on
 * its way back to user mode (or at its next cond_resched()), which is a quiescent state even
 * when it picks the same task again.
 */
#define RCU_JIFFIES_TILL_RESCHED 3
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
		unsigned long start = READ_ONCE(jiffies);

		while (READ_ONCE(per_cpu[cpu].rcu_qs) == snap[cpu] && cpu_online(cpu)) {
			if ((long)(READ_ONCE(jiffies) - start) >= RCU_JIFFIES_TILL_RESCHED)
				resched_cpu(cpu);
			set_current_state(TASK_UNINTERRUPTIBLE);
			schedule_timeout(1);
		}
	}
}
