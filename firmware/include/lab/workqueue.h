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

#endif
