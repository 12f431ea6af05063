// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The system workqueue: one worker kthread takes queued work items in order and runs them in
 * task context. flush_work() waits until an item is neither queued nor running.
 */
#include <lab/workqueue.h>
#include <lab/wait.h>
#include <lab/printk.h>

static DEFINE_SPINLOCK(wq_lock);
static LIST_HEAD(worklist);
static DECLARE_WAIT_QUEUE_HEAD(worker_wq); /* the worker waits for work here */
static DECLARE_WAIT_QUEUE_HEAD(flush_wq);  /* flushers wait for items to finish here */
static struct work_struct *current_work;   /* the item the worker runs, under wq_lock */

static bool work_busy(struct work_struct *work)
{
	unsigned long flags = spin_lock_irqsave(&wq_lock);
	bool busy = work->pending || current_work == work;

	spin_unlock_irqrestore(&wq_lock, flags);
	return busy;
}

static noinline void process_one_work(struct work_struct *work)
{
	work->func(work);
}

static bool worklist_empty(void)
{
	unsigned long flags = spin_lock_irqsave(&wq_lock);
	bool empty = list_empty(&worklist);

	spin_unlock_irqrestore(&wq_lock, flags);
	return empty;
}

static int worker_thread(void *unused)
{
	struct work_struct *work;
	unsigned long flags;

	for (;;) {
		wait_event_interruptible(worker_wq, !worklist_empty());
		flags = spin_lock_irqsave(&wq_lock);
		if (list_empty(&worklist)) {
			spin_unlock_irqrestore(&wq_lock, flags);
			continue;
		}
		work = list_first_entry(&worklist, struct work_struct, entry);
		list_del_init(&work->entry);
		work->pending = false;
		current_work = work;
		spin_unlock_irqrestore(&wq_lock, flags);

		process_one_work(work);

		flags = spin_lock_irqsave(&wq_lock);
		current_work = NULL;
		spin_unlock_irqrestore(&wq_lock, flags);
		wake_up_all(&flush_wq);
		cond_resched();
	}
	return 0;
}

void workqueue_init(void)
{
	if (!kthread_run(worker_thread, NULL, "kworker/u:0"))
		panic("cannot start the workqueue worker");
}

/* Queues work unless it is already queued; true if it was queued now. */
bool schedule_work(struct work_struct *work)
{
	unsigned long flags = spin_lock_irqsave(&wq_lock);
	bool queued = !work->pending;

	if (queued) {
		work->pending = true;
		list_add_tail(&work->entry, &worklist);
	}
	spin_unlock_irqrestore(&wq_lock, flags);
	if (queued)
		wake_up(&worker_wq);
	return queued;
}

/* Waits for the last queueing of work to finish; true if there was something to wait for. */
bool flush_work(struct work_struct *work)
{
	struct wait_queue_entry w = {.task = current, .entry = {&w.entry, &w.entry}};
	bool waited = false;

	for (;;) {
		prepare_to_wait(&flush_wq, &w, TASK_UNINTERRUPTIBLE);
		if (!work_busy(work))
			break;
		waited = true;
		schedule();
	}
	finish_wait(&flush_wq, &w);
	return waited;
}

/* Takes work off the list if it is queued and waits for a run in progress; true if it was queued. */
bool cancel_work_sync(struct work_struct *work)
{
	unsigned long flags = spin_lock_irqsave(&wq_lock);
	bool queued = work->pending;

	if (queued) {
		list_del_init(&work->entry);
		work->pending = false;
	}
	spin_unlock_irqrestore(&wq_lock, flags);
	flush_work(work);
	return queued;
}

/* The timer of a delayed work item: in the tick's interrupt, it only queues the work. */
void delayed_work_timer_fn(struct timer_list *t)
{
	schedule_work(&container_of(t, struct delayed_work, timer)->work);
}

/* Queues dwork after delay jiffies (0: now) unless it is already waiting or queued. */
bool schedule_delayed_work(struct delayed_work *dwork, unsigned long delay)
{
	if (READ_ONCE(dwork->timer.pending) || READ_ONCE(dwork->work.pending))
		return false;
	if (!delay)
		return schedule_work(&dwork->work);
	dwork->timer.function = delayed_work_timer_fn;
	dwork->timer.expires = jiffies + delay;
	add_timer(&dwork->timer);
	return true;
}

/* A waiting timer fires now; then waits for the work to finish. */
bool flush_delayed_work(struct delayed_work *dwork)
{
	if (READ_ONCE(dwork->timer.pending)) {
		del_timer(&dwork->timer);
		schedule_work(&dwork->work);
	}
	return flush_work(&dwork->work);
}

bool cancel_delayed_work_sync(struct delayed_work *dwork)
{
	bool waiting = READ_ONCE(dwork->timer.pending);

	del_timer(&dwork->timer);
	return cancel_work_sync(&dwork->work) || waiting;
}
