// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Completions. The waiter sleeps uninterruptibly, as the kernel's wait_for_completion() does:
 * a livepatch fake signal does not cut the wait short.
 */
#include <lab/completion.h>

void init_completion(struct completion *x)
{
	x->done = 0;
	init_waitqueue_head(&x->wait);
}

void complete(struct completion *x)
{
	unsigned long flags = spin_lock_irqsave(&x->wait.lock);

	if (x->done != ~0U)
		x->done++;
	spin_unlock_irqrestore(&x->wait.lock, flags);
	wake_up(&x->wait);
}

void complete_all(struct completion *x)
{
	unsigned long flags = spin_lock_irqsave(&x->wait.lock);

	x->done = ~0U;
	spin_unlock_irqrestore(&x->wait.lock, flags);
	wake_up_all(&x->wait);
}

/* Takes one "done" (all of them stay after complete_all()). */
static bool try_wait_for_completion(struct completion *x)
{
	unsigned long flags = spin_lock_irqsave(&x->wait.lock);
	bool ret = x->done != 0;

	if (ret && x->done != ~0U)
		x->done--;
	spin_unlock_irqrestore(&x->wait.lock, flags);
	return ret;
}

void wait_for_completion(struct completion *x)
{
	struct wait_queue_entry w = {.task = current, .entry = {&w.entry, &w.entry}};

	for (;;) {
		prepare_to_wait(&x->wait, &w, TASK_UNINTERRUPTIBLE);
		if (try_wait_for_completion(x))
			break;
		schedule();
	}
	finish_wait(&x->wait, &w);
}
