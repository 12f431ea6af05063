/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Variable arguments, through the compiler's builtins (the x86-64 psABI's va_list). */
#ifndef _STDARG_H
#define _STDARG_H

typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_arg(ap, type)   __builtin_va_arg(ap, type)
#define va_end(ap)	   __builtin_va_end(ap)
#define va_copy(to, from)  __builtin_va_copy(to, from)

#endif
