/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_WAIT_H
#define _LINUX_WAIT_H
#include <lab/wait.h>

#endif
