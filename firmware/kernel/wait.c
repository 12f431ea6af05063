// SPDX-License-Identifier: GPL-2.0-or-later
/* Wait queues: a sleeper queues itself and sets its state before testing its condition. */
#include <lab/wait.h>

void init_waitqueue_head(struct wait_queue_head *wq)
{
	wq->lock = (spinlock_t)SPINLOCK_INIT;
	INIT_LIST_HEAD(&wq->head);
}

void prepare_to_wait(struct wait_queue_head *wq, struct wait_queue_entry *w, long state)
{
	unsigned long flags = spin_lock_irqsave(&wq->lock);

	w->task = current;
	if (list_empty(&w->entry))
		list_add_tail(&w->entry, &wq->head);
	set_current_state(state);
	spin_unlock_irqrestore(&wq->lock, flags);
}

void finish_wait(struct wait_queue_head *wq, struct wait_queue_entry *w)
{
	unsigned long flags;

	__set_current_state(TASK_RUNNING);
	flags = spin_lock_irqsave(&wq->lock);
	if (!list_empty(&w->entry))
		list_del_init(&w->entry);
	spin_unlock_irqrestore(&wq->lock, flags);
}

static void __wake_up(struct wait_queue_head *wq, int nr)
{
	struct wait_queue_entry *w;
	unsigned long flags = spin_lock_irqsave(&wq->lock);

	list_for_each_entry (w, &wq->head, entry) {
		if (wake_up_process(w->task) && --nr == 0)
			break;
	}
	spin_unlock_irqrestore(&wq->lock, flags);
}

void wake_up(struct wait_queue_head *wq)
{
	__wake_up(wq, 1);
}

void wake_up_all(struct wait_queue_head *wq)
{
	__wake_up(wq, 0);
}
