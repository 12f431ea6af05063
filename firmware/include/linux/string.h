/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_STRING_H
#define _LINUX_STRING_H
#include <lab/lib.h>

#endif
