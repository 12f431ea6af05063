// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPU hotplug, after kernel/cpu.c and the x86 play_dead path, reduced to its two directions.
 *
 * Down: the controlling task asks the dying cpu to take itself down (take_cpu_down(), from an
 * interrupt there): it leaves the online mask, takes no more tasks and pushes away the queued
 * ones; the task running there follows at its next schedule. Once only the idle task is left,
 * the idle loop parks the cpu: its timers go to a cpu that stays, it tells the host it is dead
 * and halts with interrupts off. The controlling task waits for that report.
 *
 * Up: the controlling task sends the parked cpu INIT and a startup IPI (PORT_CPU_STARTUP); the
 * host restarts the vCPU at _start, which puts the idle task back at the bottom of its own
 * stack, and start_cpu() brings the cpu online exactly as at boot. The controlling task waits
 * until it is online.
 *
 * cpu_hotplug_busy stands for cpus_write_lock(): held for the whole of an operation, so one
 * who finds it clear sees every cpu either fully up or parked. The livepatch core needs that
 * for offline idle tasks (commit 1daf08a0); it gets it because its transition work and the
 * hotplug requests are all host work, served one at a time by khostd.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/lib.h>
#include <lab/syscall.h>

#define EBUSY 16

volatile int cpu_hotplug_busy;

static bool cpu_hotplug_begin(void)
{
	return !__atomic_exchange_n(&cpu_hotplug_busy, 1, __ATOMIC_ACQ_REL);
}

static void cpu_hotplug_done(void)
{
	__atomic_store_n(&cpu_hotplug_busy, 0, __ATOMIC_RELEASE);
}

/* Sleeps a tick at a time until cpu's hotplug state says the other side is done. */
static void wait_for_cpu(int cpu, bool (*done)(int cpu))
{
	while (!done(cpu)) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		schedule_timeout(1);
	}
}

static bool cpu_is_dead(int cpu)
{
	return READ_ONCE(per_cpu[cpu].hotplug_state) == CPU_DEAD;
}

static bool cpu_is_up(int cpu)
{
	return cpu_online(cpu);
}

/* On the dying cpu, from CALL_FUNCTION_VECTOR with irqs off. */
static void take_cpu_down(void *unused)
{
	sched_cpu_deactivate(smp_processor_id());
}

static void takedown_cpu(int cpu)
{
	smp_call_function_single(cpu, take_cpu_down, NULL);
	wait_for_cpu(cpu, cpu_is_dead);
	printk(KERN_INFO "smpboot: CPU %d is now offline\n", cpu);
}

static void bringup_cpu(int cpu)
{
	printk(KERN_INFO "smpboot: Booting CPU %d\n", cpu);
	outl(cpu, PORT_CPU_STARTUP);
	wait_for_cpu(cpu, cpu_is_up);
}

/*
 * Either direction, for a cpu in the state it starts from. The boot cpu stays: it keeps
 * jiffies and serves the host's doorbell.
 */
static int cpu_hotplug(int cpu, bool (*from)(int cpu), void (*op)(int cpu))
{
	int ret = 0;

	if (cpu <= 0 || cpu >= (int)nr_cpu_ids)
		return -EINVAL;
	if (!cpu_hotplug_begin())
		return -EBUSY;
	if (from(cpu))
		op(cpu);
	else
		ret = -EINVAL;
	cpu_hotplug_done();
	return ret;
}

int cpu_down(int cpu)
{
	return cpu_hotplug(cpu, cpu_is_up, takedown_cpu);
}

int cpu_up(int cpu)
{
	return cpu_hotplug(cpu, cpu_is_dead, bringup_cpu);
}

/*
 * The idle task of a cpu that went offline, with nothing else left to run here. It does not
 * return: the next thing this cpu executes is _start, when it is brought up again.
 */
void cpu_play_dead(void)
{
	int cpu = smp_processor_id();

	local_irq_disable();
	timers_dead_cpu(cpu);
	rcu_all_qs();
	lab_event(EV_CPU_DEAD, cpu, 0, 0);
	/* the host first, then the controlling task: a startup IPI never finds us unreported */
	outl(cpu, PORT_CPU_DEAD);
	WRITE_ONCE(this_cpu()->hotplug_state, CPU_DEAD);
	for (;;)
		__asm__ __volatile__("hlt" ::: "memory");
}
