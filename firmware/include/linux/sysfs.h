/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_SYSFS_H
#define _LINUX_SYSFS_H
#include <lab/kobject.h>

#endif
