/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wait queues and kernel timers. */
#ifndef LAB_WAIT_H
#define LAB_WAIT_H
#include <lab/sched.h>

struct wait_queue_entry {
	struct task_struct *task;
	struct list_head entry;
};

struct wait_queue_head {
	spinlock_t lock;
	struct list_head head;
};

#define DECLARE_WAIT_QUEUE_HEAD(name) \
	struct wait_queue_head name = {SPINLOCK_INIT, LIST_HEAD_INIT(name.head)}

void init_waitqueue_head(struct wait_queue_head *wq);
void prepare_to_wait(struct wait_queue_head *wq, struct wait_queue_entry *w, long state);
void finish_wait(struct wait_queue_head *wq, struct wait_queue_entry *w);
void wake_up(struct wait_queue_head *wq);
void wake_up_all(struct wait_queue_head *wq);

/* Sleep until cond is true; returns -EINTR (-4) when a signal arrives first. */
#define wait_event_interruptible(wq, cond)                                         \
	({                                                                         \
		struct wait_queue_entry __w = {.task = current,                    \
					       .entry = {&__w.entry, &__w.entry}}; \
		long __ret = 0;                                                    \
		for (;;) {                                                         \
			prepare_to_wait(&(wq), &__w, TASK_INTERRUPTIBLE);          \
			if (cond)                                                  \
				break;                                             \
			if (signal_pending(current)) {                             \
				__ret = -4;                                        \
				break;                                             \
			}                                                          \
			schedule();                                                \
		}                                                                  \
		finish_wait(&(wq), &__w);                                          \
		__ret;                                                             \
	})

struct timer_list {
	struct list_head entry;
	unsigned long expires; /* jiffies */
	void (*function)(struct timer_list *t);
	struct task_struct *task;
	int cpu;
	bool pending;
};

void add_timer(struct timer_list *t);
void del_timer(struct timer_list *t);
void run_local_timers(void);

#endif
