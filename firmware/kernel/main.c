// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bring-up. Every vCPU enters start_cpu() from head.S. Cpu 0 sets up memory, the scheduler and
 * the interrupt table, creates init, then releases the others; each cpu loads its own tables,
 * tells the host it is online and becomes its idle task.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/boot.h>
#include <lab/lib.h>
#include <lab/mm.h>
#include <lab/traps.h>
#include <lab/workloads.h>

struct boot_params boot_params;
unsigned int nr_cpu_ids = 1;
unsigned int HZ = 100;
int preempt_full;
static volatile int smp_released;

extern char _end[];

static void wrmsr(u32 msr, u64 val)
{
	__asm__ __volatile__("wrmsr" : : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)));
}

static void start_kernel(void)
{
	struct task_struct *init;

	if (boot_params.magic != BOOT_MAGIC)
		panic("boot_params not set by the host (magic %lx)", boot_params.magic);
	nr_cpu_ids = boot_params.nr_cpus;
	if (nr_cpu_ids < 1 || nr_cpu_ids > NR_CPUS)
		panic("nr_cpus %u out of range 1..%d", nr_cpu_ids, NR_CPUS);
	if (boot_params.hz)
		HZ = boot_params.hz;
	preempt_full = boot_params.preempt == 1;
	if (boot_params.loglevel)
		console_loglevel = boot_params.loglevel;

	printk(KERN_NOTICE "Linux-like lab kernel booting on %u cpus, HZ=%u, preempt=%s\n",
	       nr_cpu_ids, HZ, preempt_full ? "full" : "none");
	mm_init(ALIGN((u64)_end, 4096UL), boot_params.ram_end);
	trap_init();
	sched_init();
	init = copy_process(0, kernel_init, NULL, NULL, "init");
	if (!init)
		panic("cannot create init");
	wake_up_new_task(init);
}

void start_cpu(int cpu)
{
	struct pcpu *pc = &per_cpu[cpu];

	pc->self = pc;
	pc->cpu = cpu;
	pc->current_task = &idle_tasks[cpu];
	wrmsr(MSR_GS_BASE, (u64)pc);

	if (cpu == 0) {
		start_kernel();
		WRITE_ONCE(smp_released, 1);
	} else {
		while (!READ_ONCE(smp_released))
			cpu_relax();
	}
	cpu_init_tables(cpu);
	sched_init_cpu(cpu);
	outl(cpu, PORT_CPU_ONLINE);
	/* after a cpu_up() too: the same path as at boot, on the idle task's fresh stack */
	WRITE_ONCE(pc->hotplug_state, CPU_UP);
	WRITE_ONCE(pc->online, 1);
	lab_event(EV_CPU_ONLINE, cpu, 0, 0);
	printk(KERN_INFO "smp: CPU%d is up\n", cpu);
	local_irq_enable();
	cpu_startup_entry();
}
