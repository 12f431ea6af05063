/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Formatted output of the lab's user programs' C library: %d %i %u %x %s %c %p %% with the l,
 * ll and z length modifiers, a field width and '-' / '0'. Unbuffered: each call is one write,
 * so nothing is lost when a signal's default action ends the task.
 */
#ifndef _STDIO_H
#define _STDIO_H
#include <sys/types.h>
#include <stdarg.h>

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int dprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int puts(const char *s);

#endif
