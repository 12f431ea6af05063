/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_FTRACE_H
#define _LINUX_FTRACE_H
#include <lab/ftrace.h>

#endif
