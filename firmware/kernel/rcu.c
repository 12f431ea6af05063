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
 *
 * An idle cpu RCU does not watch (between rcu_idle_enter() and rcu_idle_exit()) is quiescent
 * for synchronize_rcu() at once, as for RCU's dyntick-idle cpus: code that runs there with
 * preemption off is no read-side section RCU knows of. synchronize_rcu_every_cpu() waits for
 * those cpus too.
 */
#define RCU_JIFFIES_TILL_RESCHED 3
#include <lab/sched.h>
#include <lab/wait.h>

/*
 * Waits until every other online cpu has passed a quiescent state since the call. With
 * `eqs_counts`, RCU's own rule: a cpu found in the idle loop's extended quiescent state holds
 * no read-side section RCU watches, and is not waited for.
 */
static void wait_for_quiescent_cpus(bool eqs_counts)
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
			if (eqs_counts && READ_ONCE(per_cpu[cpu].rcu_idle))
				break;
			if ((long)(READ_ONCE(jiffies) - start) >= RCU_JIFFIES_TILL_RESCHED)
				resched_cpu(cpu);
			set_current_state(TASK_UNINTERRUPTIBLE);
			schedule_timeout(1);
		}
	}
}

/* A grace period: every cpu but the idle ones RCU does not watch has passed a quiescent state. */
void synchronize_rcu(void)
{
	wait_for_quiescent_cpus(true);
}

/*
 * What schedule_on_each_cpu() with an empty work gives: every other online cpu passes a
 * quiescent state of its own, an idle one included, which it can do only outside any section
 * with preemption off -- the handler's, wherever it runs. Livepatch's grace period since
 * 842c0884 ("livepatch: Fix stacking of patches with respect to RCU").
 */
void synchronize_rcu_every_cpu(void)
{
	wait_for_quiescent_cpus(false);
}
