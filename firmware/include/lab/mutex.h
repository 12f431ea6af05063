/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sleeping locks: a task that finds the mutex held sleeps on its wait queue until the owner
 * lets go, so a holder may sleep too (unlike a spinlock holder).
 */
#ifndef LAB_MUTEX_H
#define LAB_MUTEX_H
#include <lab/wait.h>

struct mutex {
	struct task_struct *owner; /* NULL: free */
	struct wait_queue_head wait;
};

#define __MUTEX_INITIALIZER(name)                                     \
	{                                                             \
		NULL,                                                 \
		{                                                     \
			SPINLOCK_INIT, LIST_HEAD_INIT(name.wait.head) \
		}                                                     \
	}
#define DEFINE_MUTEX(name) struct mutex name = __MUTEX_INITIALIZER(name)

void mutex_init(struct mutex *lock);
void mutex_lock(struct mutex *lock);
bool mutex_trylock(struct mutex *lock);
void mutex_unlock(struct mutex *lock);

static inline bool mutex_is_locked(struct mutex *lock)
{
	return READ_ONCE(lock->owner) != NULL;
}

#endif
