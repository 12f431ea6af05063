// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The parts of livepatch that run inside the guest, because the kernel runs them there: the
 * ftrace handler at every patched function's entry, and the places a task switches its own
 * patch state (return to user mode, the idle loop, cond_resched(), fork). Everything else --
 * enabling, the transition, the stack checks -- is the host's (src/livepatch/).
 */
#include <lab/livepatch.h>
#include <lab/printk.h>
#include <lab/boot.h>

extern const char _stext[];

volatile int klp_target_state = KLP_UNDEFINED;
volatile int klp_cond_resched_enabled;

/*
 * The handler must not sleep or be traced, and it keeps preemption off while it looks at the
 * func_stack: the host's grace periods rely on that. Since 842c0884 they wait for every cpu
 * (synchronize_rcu_every_cpu), so this holds wherever the handler runs; before it they were
 * synchronize_rcu(), for which this section is an rcu_read_lock() that an idle cpu RCU is not
 * watching does not make it wait for (the quirk KLP_QUIRK_RCU_IDLE_842C0884).
 */
notrace void klp_ftrace_handler(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *fops,
				struct pt_regs *regs)
{
	struct klp_ops *ops = fops->private;
	struct task_struct *curr = current;
	struct klp_func *func;
	int state;

	curr->preempt_count++;
	barrier();
	/* the host takes a func off only after this handler can no longer be running for it */
	if (WARN_ON_ONCE(list_empty(&ops->func_stack)))
		goto out;
	func = list_first_entry(&ops->func_stack, struct klp_func, stack_node);
	/* the host sets func->transition before it publishes a new func */
	smp_rmb();
	if (unlikely(READ_ONCE(func->transition))) {
		/* and sets every task's patch_state before it sets func->transition */
		smp_rmb();
		state = READ_ONCE(curr->patch_state);
		WARN_ON_ONCE(state == KLP_UNDEFINED);
		if (state == KLP_UNPATCHED) {
			/* this task still runs what was there before this func: the next older one */
			func = list_entry(func->stack_node.next, struct klp_func, stack_node);
			if (&func->stack_node == &ops->func_stack)
				goto out; /* no older func: the original function */
		}
	}
	/* a nop stands for the original function (atomic replace) */
	if (func->nop)
		goto out;
	regs->ip = (unsigned long)func->new_func;
out:
	barrier();
	curr->preempt_count--;
}

/*
 * A task switches itself (or is switched while pinned): take the target state if pending. The
 * event names the switch point by its return address (as an offset into the kernel text, which
 * an event field holds exactly); the host's stack-check switches write the state directly and
 * leave none, so the log tells how each task switched.
 */
notrace void klp_update_patch_state(struct task_struct *task)
{
	int state;

	preempt_disable_notrace();
	/* test-and-clear is a full barrier: pairs with the host setting the flag after the target */
	if (test_and_clear_tsk_thread_flag(task, TIF_PATCH_PENDING)) {
		state = READ_ONCE(klp_target_state);
		WRITE_ONCE(task->patch_state, state);
		lab_event(EV_KLP_SWITCH, task->pid, state,
			  (u64)__builtin_return_address(0) - (u64)_stext);
	}
	preempt_enable_no_resched_notrace();
}

static bool klp_fork_race_quirk(void)
{
	return boot_params.quirks & KLP_QUIRK_FORK_RACE_747F7A29;
}

/*
 * copy_process(), as the task struct is duplicated: nothing, since 747f7a29. With the quirk,
 * what dup_task_struct() did before: the child inherits TIF_PATCH_PENDING with the parent's
 * other thread flags, and klp_copy_process() leaves it alone.
 */
void klp_dup_task(struct task_struct *child)
{
	if (klp_fork_race_quirk() && klp_patch_pending(current))
		set_tsk_thread_flag(child, TIF_PATCH_PENDING);
}

/*
 * copy_process(), under tasklist_lock: the child gets the parent's state and pending flag as
 * they are now, not as they were when the task struct was copied (the parent may have
 * switched in between); the host changes them only with tasklist_lock free.
 */
void klp_copy_process(struct task_struct *child)
{
	if (!klp_fork_race_quirk()) {
		if (klp_patch_pending(current))
			set_tsk_thread_flag(child, TIF_PATCH_PENDING);
		else
			clear_tsk_thread_flag(child, TIF_PATCH_PENDING);
	}
	child->patch_state = current->patch_state;
}

/* cond_resched(): the host checks current's own stack and switches it if it can. */
void __klp_sched_try_switch(void)
{
	preempt_disable();
	host_call(HC_KLP_TRY_SWITCH, 0, 0, 0);
	preempt_enable_no_resched();
}

/*
 * The fake signal before 8df1947c: TIF_SIGPENDING with no signal queued, set under the
 * task's sig_lock as a sender sets it, and the task woken or kicked. Nothing marks it as fake,
 * so the task's next recalc_sigpending() -- a change of its blocked mask, rt_sigsuspend's
 * first step -- finds no signal and clears it again.
 */
static void klp_fake_sigpending(struct task_struct *p)
{
	unsigned long flags = spin_lock_irqsave(&p->sig_lock);

	set_tsk_thread_flag(p, TIF_SIGPENDING);
	spin_unlock_irqrestore(&p->sig_lock, flags);
	signal_wake_up(p);
}

/*
 * The fake signals' walk (the host decides when to send them): it must hold tasklist_lock
 * across the whole list, as tasks may exit meanwhile. A pending kthread sleeping
 * interruptibly is woken, to pass a switch point; a user task gets a notify signal, which
 * takes it through the exit-to-user path without delivering anything, and which only that
 * path clears.
 */
void klp_send_signals(void)
{
	struct task_struct *p;
	unsigned long flags = spin_lock_irqsave(&tasklist_lock);

	list_for_each_entry (p, &init_task.tasks, tasks) {
		if (!klp_patch_pending(p))
			continue;
		if (p->flags & PF_KTHREAD)
			wake_up_state(p, TASK_INTERRUPTIBLE);
		else if (boot_params.quirks & KLP_QUIRK_SIGPENDING_8DF1947C)
			klp_fake_sigpending(p);
		else
			set_notify_signal(p);
	}
	spin_unlock_irqrestore(&tasklist_lock, flags);
}

/* A livepatch module's init: the core is the host's. */
int klp_enable_patch(struct klp_patch *patch)
{
	return host_call(HC_KLP_ENABLE, (long)patch, 0, 0);
}

/* The state with this id that patch declares, if any. */
struct klp_state *klp_get_state(struct klp_patch *patch, unsigned long id)
{
	struct klp_state *state;

	for (state = patch->states; state && state->id; state++)
		if (state->id == id)
			return state;
	return NULL;
}

/*
 * During a transition, the state with this id of the newest patch installed before the one in
 * transition (what a cumulative patch takes over). The list of patches is the host's.
 */
struct klp_state *klp_get_prev_state(unsigned long id)
{
	return (struct klp_state *)host_call(HC_KLP_GET_PREV_STATE, id, 0, 0);
}
