// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The C half of interrupt and system call entry, after kernel/entry/common.c: what runs on the
 * way in (dispatch) and on the way out (pending work before user mode, preemption before
 * returning to interrupted kernel code).
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/event-ring.h>
#include <lab/syscalls.h>
#include <lab/traps.h>
#include <lab/wait.h>
#include <lab/hostcall.h>
#include <lab/livepatch.h>

extern const char _stext[];

#define HARDIRQ_OFFSET 0x10000
#define EXIT_TO_USER_MODE_WORK                                                           \
	(_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL | _TIF_NEED_RESCHED | _TIF_NOTIFY_RESUME | \
	 _TIF_PATCH_PENDING)

void do_IRQ(struct pt_regs *regs)
{
	unsigned long vector = ~regs->orig_ax;
	int idle = rcu_irq_enter();

	__preempt_count_add(HARDIRQ_OFFSET);
	this_cpu()->irq_count++;
	if (trace_entry_on())
		event_record_irqs_off(EV_IRQ_ENTRY, vector, user_mode(regs), 0);
	switch (vector) {
	case TIMER_VECTOR:
		tick_handle_periodic(regs);
		break;
	case RESCHEDULE_VECTOR:
		scheduler_ipi();
		break;
	case CALL_FUNCTION_VECTOR:
		generic_smp_call_function_interrupt();
		break;
	case HOST_EVENT_VECTOR:
		host_event_interrupt();
		break;
	default:
		if (vector < 32)
			panic("unexpected exception %lu at %lx", vector, regs->ip);
		printk(KERN_WARNING "spurious interrupt vector %lu on cpu %d\n", vector,
		       smp_processor_id());
	}
	if (trace_entry_on())
		event_record_irqs_off(EV_IRQ_EXIT, vector, 0, 0);
	__preempt_count_sub(HARDIRQ_OFFSET);
	rcu_irq_exit(idle);
}

void do_int80_syscall(struct pt_regs *regs)
{
	unsigned long nr = regs->orig_ax;

	if (trace_entry_on())
		event_record_irqs_off(EV_SYS_ENTER, nr, 0, 0);
	local_irq_enable();
	if (nr < NR_syscalls && sys_call_table[nr])
		regs->ax = sys_call_table[nr](regs);
	else
		regs->ax = -ENOSYS;
	local_irq_disable();
}

/* Called with irqs off; handles all pending work before user mode and returns with irqs off. */
void exit_to_user_mode(struct pt_regs *regs)
{
	for (;;) {
		unsigned long ti_work = READ_ONCE(current->thread_info.flags);

		if (!(ti_work & EXIT_TO_USER_MODE_WORK))
			break;
		local_irq_enable();
		if (ti_work & _TIF_NEED_RESCHED)
			schedule();
		/* no kernel frames left on this task's stack: it can switch to the target state */
		if (ti_work & _TIF_PATCH_PENDING)
			klp_update_patch_state(current);
		if (ti_work & _TIF_NOTIFY_RESUME)
			clear_tsk_thread_flag(current, TIF_NOTIFY_RESUME);
		if (ti_work & (_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL))
			arch_do_signal_or_restart(regs);
		local_irq_disable();
	}
	/*
	 * Nothing runs in the kernel for this task between here and iret. One record ends the
	 * system call too (with what the program sees it return, after any signal's restart):
	 * a separate exit record would cost a third more on the hottest path.
	 */
	if (trace_entry_on()) {
		long ax = regs->ax;

		event_record_irqs_off(EV_USER_ENTER, regs->ip - (u64)_stext, ax < 0 ? -ax : ax,
				      ax < 0);
	}
}

/* A new user task's first trip to user mode (from ret_from_fork). */
void syscall_exit_to_user_mode(struct pt_regs *regs)
{
	local_irq_disable();
	exit_to_user_mode(regs);
}

void irqentry_exit_to_kernel(struct pt_regs *regs)
{
	if (preempt_full && (regs->flags & X86_EFLAGS_IF) && preempt_count() == 0 && need_resched())
		preempt_schedule_irq();
}
