/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tasks: current, its pid, sleeping and rescheduling. */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H
#include <linux/types.h>
#include <lab/sched.h>
#include <linux/jiffies.h>

/* Every task of the lab is its own thread group: its tgid is its pid (one pid namespace). */
static inline pid_t task_tgid_vnr(struct task_struct *tsk)
{
	return tsk->pid;
}

static inline pid_t task_pid_nr(struct task_struct *tsk)
{
	return tsk->pid;
}

#endif
