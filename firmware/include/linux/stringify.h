/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A macro argument as a string, after its own expansion (hence the two steps). */
#ifndef _LINUX_STRINGIFY_H
#define _LINUX_STRINGIFY_H

#define __stringify_1(x...) #x
#define __stringify(x...)   __stringify_1(x)

#endif
