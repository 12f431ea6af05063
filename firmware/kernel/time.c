// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Periodic tick and kernel timers. The host raises TIMER_VECTOR on every cpu HZ times per
 * emulated second; cpu 0 keeps jiffies. Each cpu keeps its own sorted timer list, guarded by its
 * runqueue lock, and runs expired timers from its tick.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/wait.h>
#include <lab/proc.h>

volatile unsigned long jiffies;

/* Insert t in rq's timer list, earliest first; rq->lock held. */
static void enqueue_timer(struct rq *rq, struct timer_list *t)
{
	struct timer_list *pos;

	list_for_each_entry (pos, &rq->timers, entry) {
		if ((long)(pos->expires - t->expires) > 0)
			break;
	}
	list_add_tail(&t->entry, &pos->entry);
}

void add_timer(struct timer_list *t)
{
	struct rq *rq = &this_cpu()->rq;
	unsigned long flags = local_irq_save();

	raw_spin_lock(&rq->lock);
	t->cpu = smp_processor_id();
	t->pending = true;
	enqueue_timer(rq, t);
	raw_spin_unlock(&rq->lock);
	local_irq_restore(flags);
}

/* Lock the runqueue whose list holds t: a cpu going down hands its timers to another. */
static struct rq *lock_timer_base(struct timer_list *t)
{
	for (;;) {
		int cpu = READ_ONCE(t->cpu);
		struct rq *rq = &per_cpu[cpu].rq;

		raw_spin_lock(&rq->lock);
		if (cpu == READ_ONCE(t->cpu))
			return rq;
		raw_spin_unlock(&rq->lock);
	}
}

void del_timer(struct timer_list *t)
{
	unsigned long flags = local_irq_save();
	struct rq *rq = lock_timer_base(t);

	if (t->pending) {
		list_del_init(&t->entry);
		t->pending = false;
	}
	raw_spin_unlock(&rq->lock);
	local_irq_restore(flags);
}

/*
 * timers_dead_cpu(), run by the dying cpu itself as the last thing it does (irqs off): its
 * pending timers move to the first cpu that stays, or their sleepers would never wake. Both
 * runqueue locks are taken in cpu order.
 */
void timers_dead_cpu(int cpu)
{
	struct rq *old = &per_cpu[cpu].rq, *new, *first, *second;
	struct timer_list *t;
	int to;

	for (to = 0; to < (int)nr_cpu_ids; to++)
		if (to != cpu && cpu_online(to) && cpu_active(to))
			break;
	if (to == (int)nr_cpu_ids)
		return;
	new = &per_cpu[to].rq;
	first = to < cpu ? new : old;
	second = to < cpu ? old : new;
	raw_spin_lock(&first->lock);
	raw_spin_lock(&second->lock);
	while (!list_empty(&old->timers)) {
		t = list_first_entry(&old->timers, struct timer_list, entry);
		list_del_init(&t->entry);
		WRITE_ONCE(t->cpu, to);
		enqueue_timer(new, t);
	}
	raw_spin_unlock(&second->lock);
	raw_spin_unlock(&first->lock);
}

/* From the tick, irqs off: collect expired timers under the lock, run them without it. */
void run_local_timers(void)
{
	struct rq *rq = &this_cpu()->rq;
	struct timer_list *t;
	LIST_HEAD(expired);

	raw_spin_lock(&rq->lock);
	while (!list_empty(&rq->timers)) {
		t = list_first_entry(&rq->timers, struct timer_list, entry);
		if ((long)(READ_ONCE(jiffies) - t->expires) < 0)
			break;
		list_del_init(&t->entry);
		list_add_tail(&t->entry, &expired);
	}
	raw_spin_unlock(&rq->lock);
	while (!list_empty(&expired)) {
		t = list_first_entry(&expired, struct timer_list, entry);
		list_del_init(&t->entry);
		t->pending = false;
		t->function(t);
	}
}

void tick_handle_periodic(struct pt_regs *regs)
{
	struct task_struct *curr = current;

	this_cpu()->timer_ticks++;
	if (smp_processor_id() == 0)
		jiffies++;
	if (user_mode(regs)) {
		curr->utime_ticks++;
		rcu_all_qs(); /* a cpu in user mode holds no kernel read-side section */
	} else {
		curr->stime_ticks++;
	}
	run_local_timers();
	scheduler_tick();
}

static void process_timeout(struct timer_list *t)
{
	wake_up_process(t->task);
}

long schedule_timeout(long ticks)
{
	struct timer_list timer = {
		.expires = jiffies + ticks, .function = process_timeout, .task = current};
	long left;

	INIT_LIST_HEAD(&timer.entry);
	add_timer(&timer);
	schedule();
	del_timer(&timer);
	left = (long)(timer.expires - jiffies);
	return left < 0 ? 0 : left;
}

void msleep(unsigned int msecs)
{
	long ticks = ((long)msecs * HZ + 999) / 1000;

	if (ticks < 1)
		ticks = 1;
	while (ticks) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		ticks = schedule_timeout(ticks);
	}
}

/*
 * /proc/uptime-like: jiffies since boot. Its static helper shares its name with proc.c's, as
 * static functions in different files of a kernel do: livepatches name it with old_sympos.
 */
static noinline void format_value(struct seq_file *m, const char *name, unsigned long v)
{
	seq_printf(m, "%s %lu.%02lu\n", name, v / HZ, (v % HZ) * 100 / HZ);
}

noinline int uptime_proc_show(struct seq_file *m, void *v)
{
	format_value(m, "uptime", READ_ONCE(jiffies));
	return 0;
}
