/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NR_CPUS: the most cpus the image supports. */
#ifndef _LINUX_THREADS_H
#define _LINUX_THREADS_H
#include <lab/hw.h>

#endif
