/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_LIST_H
#define _LINUX_LIST_H
#include <lab/list.h>

#endif
