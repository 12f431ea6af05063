/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Work items and delayed work on the kernel's one worker (kworker/u:0). */
#ifndef _LINUX_WORKQUEUE_H
#define _LINUX_WORKQUEUE_H
#include <linux/completion.h>
#include <linux/jiffies.h>
#include <lab/workqueue.h>

#endif
