// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cross-cpu calls: run a function on another cpu from its CALL_FUNCTION_VECTOR interrupt and
 * wait for it (what the kernel's synchronize-on-every-cpu helpers are built on).
 */
#include <lab/sched.h>
#include <lab/lib.h>

static DEFINE_SPINLOCK(call_lock);

void generic_smp_call_function_interrupt(void)
{
	struct pcpu *pc = this_cpu();
	smp_call_func_t func = READ_ONCE(pc->call_func);

	if (!func)
		return;
	func(pc->call_info);
	WRITE_ONCE(pc->call_func, NULL);
	WRITE_ONCE(pc->call_done, 1);
}

void smp_call_function_single(int cpu, smp_call_func_t func, void *info)
{
	struct pcpu *pc = &per_cpu[cpu];
	unsigned long flags;

	if (cpu == smp_processor_id()) {
		flags = local_irq_save();
		func(info);
		local_irq_restore(flags);
		return;
	}
	spin_lock(&call_lock);
	pc->call_info = info;
	pc->call_done = 0;
	WRITE_ONCE(pc->call_func, func);
	outl(cpu | (CALL_FUNCTION_VECTOR << 16), PORT_IPI);
	while (!READ_ONCE(pc->call_done))
		cpu_relax();
	spin_unlock(&call_lock);
}
