/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _LINUX_GFP_H
#define _LINUX_GFP_H
#include <lab/gfp.h>

#endif
