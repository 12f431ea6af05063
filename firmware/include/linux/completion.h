/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_COMPLETION_H
#define _LINUX_COMPLETION_H
#include <lab/completion.h>

#endif
