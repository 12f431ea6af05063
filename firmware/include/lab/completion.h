/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Completions: one task waits until another says something is done. */
#ifndef LAB_COMPLETION_H
#define LAB_COMPLETION_H
#include <lab/wait.h>

struct completion {
	unsigned int done;
	struct wait_queue_head wait;
};

#define DECLARE_COMPLETION(name) \
	struct completion name = {0, {SPINLOCK_INIT, LIST_HEAD_INIT(name.wait.head)}}

void init_completion(struct completion *x);
void complete(struct completion *x);
void complete_all(struct completion *x);
void wait_for_completion(struct completion *x);

#endif
