// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The scheduler: per-cpu runqueues served round robin with a time slice, the idle task when a
 * queue is empty, and the wakeup protocol of kernel/sched/core.c in miniature: p->pi_lock
 * serialises wakers, p->on_rq says "runnable", p->on_cpu says "its cpu may still be on its
 * stack", and the runqueue lock is handed across the context switch to the next task.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/lib.h>
#include <lab/wait.h>
#include <lab/livepatch.h>
#include <lab/syscall.h>

struct pcpu per_cpu[NR_CPUS] __aligned(64);
struct task_struct idle_tasks[NR_CPUS];
extern struct task_struct init_task __attribute__((alias("idle_tasks")));
char idle_stacks[NR_CPUS][THREAD_SIZE] __aligned(THREAD_SIZE);

#define HARDIRQ_OFFSET 0x10000

static inline struct rq *cpu_rq(int cpu)
{
	return &per_cpu[cpu].rq;
}

static inline struct rq *this_rq(void)
{
	return &this_cpu()->rq;
}

void preempt_disable(void)
{
	__preempt_count_add(1);
	barrier();
}

void preempt_enable_no_resched(void)
{
	barrier();
	__preempt_count_sub(1);
}

static void __schedule(bool preempt);

void preempt_enable(void)
{
	barrier();
	if (--current->preempt_count == 0 && preempt_full && need_resched() && !irqs_disabled())
		__schedule(true);
}

void sched_init(void)
{
	int cpu;

	for (cpu = 0; cpu < (int)nr_cpu_ids; cpu++) {
		struct task_struct *idle = &idle_tasks[cpu];
		struct rq *rq = cpu_rq(cpu);

		INIT_LIST_HEAD(&rq->queue);
		INIT_LIST_HEAD(&rq->timers);
		rq->lock = (spinlock_t)SPINLOCK_INIT;
		rq->idle = idle;
		rq->curr = idle;
		idle->stack = idle_stacks[cpu];
		idle->flags = PF_IDLE | PF_KTHREAD;
		idle->cpu = cpu;
		idle->pinned_cpu = cpu;
		idle->on_cpu = 1;
		idle->on_rq = 1;
		idle->pid = 0;
		idle->patch_state = KLP_UNDEFINED;
		idle->pi_lock = (spinlock_t)SPINLOCK_INIT;
		INIT_LIST_HEAD(&idle->run_list);
		INIT_LIST_HEAD(&idle->tasks);
		snprintf(idle->comm, TASK_COMM_LEN, "swapper/%d", cpu);
	}
}

/*
 * At boot and at every bring-up (the idle task starts over at the bottom of its stack). The idle
 * loop runs with preemption disabled, as Linux's does: an interrupt returning to it never
 * preempts it, so a wakeup's NEED_RESCHED is left for the loop to see, and the idle task leaves
 * its cpu only from schedule_idle() -- the point where it switches its patch state, and where
 * its stack is a plain, reliable call chain.
 */
void sched_init_cpu(int cpu)
{
	per_cpu[cpu].tss.sp0 = (u64)idle_tasks[cpu].stack + THREAD_SIZE;
	idle_tasks[cpu].preempt_count = 1;
}

static void enqueue_task(struct rq *rq, struct task_struct *p)
{
	list_add_tail(&p->run_list, &rq->queue);
	rq->nr_queued++;
}

static void dequeue_task(struct rq *rq, struct task_struct *p)
{
	list_del_init(&p->run_list);
	rq->nr_queued--;
}

static struct task_struct *pick_next_task(struct rq *rq)
{
	struct task_struct *p;

	if (!rq->nr_queued)
		return rq->idle;
	p = list_first_entry(&rq->queue, struct task_struct, run_list);
	dequeue_task(rq, p);
	return p;
}

/* Lock the runqueue p is on; p may move between runqueues until we hold the right one. */
static struct rq *task_rq_lock(struct task_struct *p)
{
	for (;;) {
		struct rq *rq = cpu_rq(READ_ONCE(p->cpu));

		raw_spin_lock(&rq->lock);
		if (rq == cpu_rq(READ_ONCE(p->cpu)))
			return rq;
		raw_spin_unlock(&rq->lock);
	}
}

void smp_send_reschedule(int cpu)
{
	outl(cpu | (RESCHEDULE_VECTOR << 16), PORT_IPI);
}

void resched_curr(struct rq *rq)
{
	struct task_struct *curr = rq->curr;
	int cpu = rq->idle->cpu;

	if (test_tsk_thread_flag(curr, TIF_NEED_RESCHED))
		return;
	set_tsk_thread_flag(curr, TIF_NEED_RESCHED);
	if (cpu != smp_processor_id())
		smp_send_reschedule(cpu);
}

/*
 * Makes cpu's current task pass through the scheduler at its next chance (return to user mode,
 * cond_resched(), a preemption point): RCU's nudge to a cpu that holds up a grace period.
 */
void resched_cpu(int cpu)
{
	struct rq *rq = cpu_rq(cpu);
	unsigned long flags = local_irq_save();

	raw_spin_lock(&rq->lock);
	if (cpu_online(cpu))
		resched_curr(rq);
	raw_spin_unlock(&rq->lock);
	local_irq_restore(flags);
}

static unsigned int rq_load(int cpu)
{
	struct rq *rq = cpu_rq(cpu);

	return READ_ONCE(rq->nr_queued) + (READ_ONCE(rq->curr) != rq->idle);
}

/*
 * A task pinned to a cpu that went down loses its affinity, as with the kernel's
 * select_fallback_rq(); one pinned to a cpu still booting waits for it.
 */
static void break_affinity(struct task_struct *p, int cpu)
{
	printk(KERN_INFO "process %d (%s) no longer affine to cpu%d\n", p->pid, p->comm, cpu);
	WRITE_ONCE(p->pinned_cpu, -1);
}

static bool usable(int cpu)
{
	return cpu_online(cpu) && cpu_active(cpu);
}

/* Where a waking or new task should run: its own cpu if idle, else the least loaded cpu. */
static int select_task_rq(struct task_struct *p)
{
	int cpu, best = p->cpu, n = nr_cpu_ids;
	unsigned int best_load;

	int pinned = READ_ONCE(p->pinned_cpu);

	if (pinned >= 0) {
		if (cpu_active(pinned))
			return pinned;
		break_affinity(p, pinned);
	}
	if (!usable(best))
		best = smp_processor_id();
	for (cpu = 0; cpu < n && !usable(best); cpu++)
		if (usable(cpu))
			best = cpu;
	best_load = rq_load(best);
	for (cpu = 0; cpu < n && best_load; cpu++) {
		unsigned int load;

		if (!usable(cpu))
			continue;
		load = rq_load(cpu);
		if (load < best_load) {
			best = cpu;
			best_load = load;
		}
	}
	return best;
}

/*
 * Queue p on cpu (or, if cpu has started going down since it was chosen, on another):
 * a wakeup, or a runnable task moving to a cpu it may run on.
 */
static void activate_task(struct task_struct *p, int cpu, bool wakeup)
{
	struct rq *rq;

	for (;;) {
		rq = cpu_rq(cpu);
		raw_spin_lock(&rq->lock);
		/* hotplug_state changes under this lock: a cpu going down takes nothing new */
		if (likely(cpu_active(cpu)))
			break;
		raw_spin_unlock(&rq->lock);
		cpu = select_task_rq(p);
	}
	if (p->cpu != cpu)
		lab_event(EV_SCHED_MIGRATE, p->pid, p->cpu, cpu);
	WRITE_ONCE(p->cpu, cpu);
	WRITE_ONCE(p->on_rq, 1);
	enqueue_task(rq, p);
	if (wakeup)
		lab_event(EV_SCHED_WAKEUP, p->pid, cpu, 0);
	if (rq->curr == rq->idle)
		resched_curr(rq);
	raw_spin_unlock(&rq->lock);
}

int wake_up_state(struct task_struct *p, unsigned int state)
{
	unsigned long flags;
	int success = 0;

	flags = local_irq_save();
	raw_spin_lock(&p->pi_lock);
	if (!(READ_ONCE(p->__state) & state))
		goto out;
	success = 1;
	if (READ_ONCE(p->on_rq)) {
		/* Still on its runqueue (it has not reached schedule() yet): just mark it running. */
		struct rq *rq = task_rq_lock(p);
		bool queued = p->on_rq;

		if (queued)
			WRITE_ONCE(p->__state, TASK_RUNNING);
		raw_spin_unlock(&rq->lock);
		if (queued)
			goto out;
	}
	/* Off the runqueue: wait until its old cpu has switched away from its stack. */
	while (READ_ONCE(p->on_cpu))
		cpu_relax();
	WRITE_ONCE(p->__state, TASK_RUNNING);
	activate_task(p, select_task_rq(p), true);
out:
	raw_spin_unlock(&p->pi_lock);
	local_irq_restore(flags);
	return success;
}

int wake_up_process(struct task_struct *p)
{
	return wake_up_state(p, TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE);
}

void wake_up_new_task(struct task_struct *p)
{
	unsigned long flags = local_irq_save();

	WRITE_ONCE(p->__state, TASK_RUNNING);
	activate_task(p, select_task_rq(p), true);
	local_irq_restore(flags);
}

/* Runs in the context of the task we switched to, with its runqueue lock held by the switch. */
void finish_task_switch(struct task_struct *prev)
{
	struct rq *rq = this_rq();
	struct task_struct *push = rq->push_task;

	rq->push_task = NULL;
	smp_wmb();
	WRITE_ONCE(prev->on_cpu, 0);
	raw_spin_unlock(&rq->lock);
	/* off its stack now: it can run elsewhere (it stays on_rq, so a wakeup leaves it alone) */
	if (push)
		activate_task(push, select_task_rq(push), false);
	local_irq_enable();
	if (READ_ONCE(prev->__state) == TASK_DEAD)
		release_task(prev);
}

/* First code a new task runs, from ret_from_fork. */
void schedule_tail(struct task_struct *prev)
{
	finish_task_switch(prev);
	preempt_enable_no_resched();
}

struct task_struct *__switch_to(struct task_struct *prev, struct task_struct *next)
{
	struct pcpu *pc = this_cpu();

	pc->tss.sp0 = (u64)next->stack + THREAD_SIZE;
	pc->current_task = next;
	return prev;
}

/* A runnable task may stay queued here unless the cpu is going down or it is pinned elsewhere. */
static bool may_stay(struct task_struct *p, int cpu)
{
	return cpu_active(cpu) && (p->pinned_cpu < 0 || p->pinned_cpu == cpu);
}

static void __schedule(bool preempt)
{
	struct task_struct *prev, *next;
	struct rq *rq;
	int cpu;

	local_irq_disable();
	cpu = smp_processor_id();
	rq = cpu_rq(cpu);
	prev = rq->curr;
	rcu_note_context_switch(cpu);
	raw_spin_lock(&rq->lock);
	clear_tsk_thread_flag(prev, TIF_NEED_RESCHED);

	if (!preempt && prev->__state != TASK_RUNNING) {
		if ((prev->__state & TASK_INTERRUPTIBLE) && signal_pending(prev))
			WRITE_ONCE(prev->__state, TASK_RUNNING);
		else
			WRITE_ONCE(prev->on_rq, 0);
	}
	if (prev->on_rq && !is_idle_task(prev)) {
		if (may_stay(prev, cpu))
			enqueue_task(rq, prev);
		else
			rq->push_task = prev;
	}

	next = pick_next_task(rq);
	if (next == prev) {
		raw_spin_unlock(&rq->lock);
		local_irq_enable();
		return;
	}
	rq->nr_switches++;
	if (preempt || prev->__state == TASK_RUNNING)
		prev->nivcsw++;
	else
		prev->nvcsw++;
	next->time_slice = TIME_SLICE_TICKS;
	rq->curr = next;
	WRITE_ONCE(next->on_cpu, 1);
	lab_event(EV_SCHED_SWITCH, prev->pid, next->pid, prev->__state);
	prev = __switch_to_asm(prev, next);
	finish_task_switch(prev);
}

void schedule(void)
{
	__schedule(false);
}

void schedule_idle(void)
{
	__schedule(false);
}

/* Kernel preemption on the way out of an interrupt; called and returns with irqs off. */
void preempt_schedule_irq(void)
{
	do {
		preempt_disable_notrace();
		local_irq_enable();
		__schedule(true);
		local_irq_disable();
		preempt_enable_no_resched_notrace();
	} while (need_resched());
}

int _cond_resched(void)
{
	klp_sched_try_switch();
	rcu_all_qs();
	if (need_resched() && preempt_count() == 0 && !irqs_disabled()) {
		__schedule(true);
		return 1;
	}
	return 0;
}

void scheduler_tick(void)
{
	struct task_struct *curr = current;
	struct rq *rq = this_rq();

	if (is_idle_task(curr))
		return;
	if (--curr->time_slice <= 0) {
		curr->time_slice = TIME_SLICE_TICKS;
		if (READ_ONCE(rq->nr_queued))
			set_tsk_thread_flag(curr, TIF_NEED_RESCHED);
	}
}

void scheduler_ipi(void)
{
	struct rq *rq = this_rq();

	if (rq->curr == rq->idle || READ_ONCE(rq->nr_queued))
		set_tsk_thread_flag(current, TIF_NEED_RESCHED);
}

/*
 * An idle cpu pulls one waiting task from the busiest other runqueue. The task stays on_rq
 * while it moves, so a concurrent wakeup only marks it running.
 */
void sched_idle_balance(void)
{
	int cpu, this = smp_processor_id(), busiest = -1;
	unsigned int max = 0;
	struct task_struct *p, *moved = NULL;
	struct rq *src;
	unsigned long flags;

	for (cpu = 0; cpu < (int)nr_cpu_ids; cpu++) {
		unsigned int queued = READ_ONCE(cpu_rq(cpu)->nr_queued);

		if (cpu != this && queued > max) {
			max = queued;
			busiest = cpu;
		}
	}
	if (busiest < 0)
		return;
	src = cpu_rq(busiest);
	flags = local_irq_save();
	/* checked with irqs off: take_cpu_down() runs here from an interrupt */
	if (!cpu_active(this) || !raw_spin_trylock(&src->lock)) {
		local_irq_restore(flags);
		return;
	}
	list_for_each_entry (p, &src->queue, run_list) {
		if (p->pinned_cpu < 0) {
			dequeue_task(src, p);
			moved = p;
			WRITE_ONCE(p->cpu, this);
			break;
		}
	}
	raw_spin_unlock(&src->lock);
	if (moved) {
		struct rq *rq = this_rq();

		lab_event(EV_SCHED_MIGRATE, moved->pid, busiest, this);
		raw_spin_lock(&rq->lock);
		enqueue_task(rq, moved);
		set_tsk_thread_flag(current, TIF_NEED_RESCHED);
		raw_spin_unlock(&rq->lock);
	}
	local_irq_restore(flags);
}

/*
 * take_cpu_down()'s part for the scheduler, on the dying cpu from an interrupt: from here on
 * nothing is queued on this cpu, the tasks queued now go to cpus that stay, and the current
 * one follows when it next schedules (__schedule() hands it to finish_task_switch()).
 */
void sched_cpu_deactivate(int cpu)
{
	struct rq *rq = cpu_rq(cpu);
	struct task_struct *p, *n;
	LIST_HEAD(moving);

	raw_spin_lock(&rq->lock);
	WRITE_ONCE(per_cpu[cpu].hotplug_state, CPU_DYING);
	WRITE_ONCE(per_cpu[cpu].online, 0);
	/* still on_rq while they move: a concurrent wakeup finds them runnable and leaves them */
	list_for_each_entry_safe (p, n, &rq->queue, run_list) {
		dequeue_task(rq, p);
		list_add_tail(&p->run_list, &moving);
	}
	if (rq->curr != rq->idle)
		set_tsk_thread_flag(rq->curr, TIF_NEED_RESCHED);
	raw_spin_unlock(&rq->lock);
	list_for_each_entry_safe (p, n, &moving, run_list) {
		list_del_init(&p->run_list);
		activate_task(p, select_task_rq(p), false);
	}
}

/*
 * sched_setaffinity() with a one-cpu mask: p may run on cpu only (-1: anywhere). A queued task
 * moves now, a running one when it next schedules; the caller itself has moved on return.
 */
int set_cpus_allowed_ptr(struct task_struct *p, int cpu)
{
	unsigned long flags;
	struct rq *rq;
	bool moving = false;

	if (cpu >= (int)nr_cpu_ids || (cpu >= 0 && !usable(cpu)))
		return -EINVAL;
	flags = local_irq_save();
	raw_spin_lock(&p->pi_lock);
	WRITE_ONCE(p->pinned_cpu, cpu);
	rq = task_rq_lock(p);
	if (cpu >= 0 && p->cpu != cpu) {
		if (!list_empty(&p->run_list)) {
			dequeue_task(rq, p);
			moving = true;
		} else if (rq->curr == p) {
			resched_curr(rq);
		}
	}
	raw_spin_unlock(&rq->lock);
	if (moving)
		activate_task(p, select_task_rq(p), false);
	raw_spin_unlock(&p->pi_lock);
	local_irq_restore(flags);
	while (p == current && cpu >= 0 && smp_processor_id() != cpu && usable(cpu))
		schedule();
	return 0;
}

/* The idle task's loop: halt until an interrupt, run whatever became runnable. */
void cpu_startup_entry(void)
{
	for (;;) {
		while (!need_resched()) {
			/* taken down: nothing can run here any more, so the idle task parks for good */
			if (unlikely(!cpu_online(smp_processor_id())))
				cpu_play_dead();
			rcu_all_qs();
			sched_idle_balance();
			local_irq_disable();
			if (need_resched()) {
				local_irq_enable();
				break;
			}
			/*
			 * RCU stops watching here, as in cpuidle_idle_call(); what the idle path
			 * calls meanwhile may be traced and live patched (see kernel/rcu.c)
			 */
			rcu_idle_enter();
			cpuidle_not_available();
			/* sti's one-instruction shadow keeps a wakeup from landing before the hlt */
			__asm__ __volatile__("sti; hlt" ::: "memory");
			rcu_idle_exit();
		}
		schedule_idle();
		/* the idle task never returns to user mode: it switches here */
		if (unlikely(klp_patch_pending(current)))
			klp_update_patch_state(current);
	}
}
