/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Work items run by a kernel worker thread ("kworker/u:0"): the system workqueue, in
 * miniature. A module's work function then runs on a kthread's stack, where a livepatch
 * transition finds it.
 */
#ifndef LAB_WORKQUEUE_H
#define LAB_WORKQUEUE_H
#include <lab/list.h>
#include <lab/types.h>
#include <lab/wait.h>

struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

struct work_struct {
	struct list_head entry;
	work_func_t func;
	bool pending; /* queued and not yet started */
};

#define DECLARE_WORK(name, fn) struct work_struct name = {LIST_HEAD_INIT(name.entry), (fn), false}

static inline void INIT_WORK(struct work_struct *work, work_func_t fn)
{
	INIT_LIST_HEAD(&work->entry);
	work->func = fn;
	work->pending = false;
}

void workqueue_init(void);
bool schedule_work(struct work_struct *work);
bool flush_work(struct work_struct *work);
bool cancel_work_sync(struct work_struct *work);

/* Work queued once a timer of `delay` jiffies expires. */
struct delayed_work {
	struct work_struct work;
	struct timer_list timer;
};

#define to_delayed_work(w) container_of(w, struct delayed_work, work)

void delayed_work_timer_fn(struct timer_list *t);

#define DECLARE_DELAYED_WORK(name, fn)                                  \
	struct delayed_work name = {                                    \
		.work = {LIST_HEAD_INIT(name.work.entry), (fn), false}, \
		.timer = {.entry = LIST_HEAD_INIT(name.timer.entry),    \
			  .function = delayed_work_timer_fn},           \
	}

static inline void INIT_DELAYED_WORK(struct delayed_work *dwork, work_func_t fn)
{
	INIT_WORK(&dwork->work, fn);
	INIT_LIST_HEAD(&dwork->timer.entry);
	dwork->timer.function = delayed_work_timer_fn;
	dwork->timer.pending = false;
}

bool schedule_delayed_work(struct delayed_work *dwork, unsigned long delay);
bool flush_delayed_work(struct delayed_work *dwork);
bool cancel_delayed_work_sync(struct delayed_work *dwork);

#endif
