/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_MUTEX_H
#define _LINUX_MUTEX_H
#include <lab/mutex.h>

#endif
