// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Mutexes: the owner is taken with one atomic exchange; a task that loses sleeps on the
 * mutex's wait queue and tries again when the owner lets go and wakes it.
 */
#include <lab/mutex.h>

void mutex_init(struct mutex *lock)
{
	lock->owner = NULL;
	init_waitqueue_head(&lock->wait);
}

bool mutex_trylock(struct mutex *lock)
{
	return __sync_bool_compare_and_swap(&lock->owner, NULL, current);
}

void mutex_lock(struct mutex *lock)
{
	struct wait_queue_entry w = {.task = current, .entry = {&w.entry, &w.entry}};

	if (mutex_trylock(lock))
		return;
	for (;;) {
		/* on the queue before the last check, so an unlock in between wakes us */
		prepare_to_wait(&lock->wait, &w, TASK_UNINTERRUPTIBLE);
		if (mutex_trylock(lock))
			break;
		schedule();
	}
	finish_wait(&lock->wait, &w);
}

void mutex_unlock(struct mutex *lock)
{
	WRITE_ONCE(lock->owner, NULL);
	smp_mb();
	wake_up(&lock->wait);
}
