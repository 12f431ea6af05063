/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_KOBJECT_H
#define _LINUX_KOBJECT_H
#include <linux/types.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>
#include <lab/kobject.h>

#endif
