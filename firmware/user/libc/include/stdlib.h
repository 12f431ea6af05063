/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef _STDLIB_H
#define _STDLIB_H

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

__attribute__((noreturn)) void exit(int status);

#endif
