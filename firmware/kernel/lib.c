// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * String helpers and vsnprintf (firmware/lib/vsnprintf.c) with the kernel's %pGg for gfp flags,
 * which the shadow variable selftest prints.
 */
#include <lab/lib.h>
#include <lab/gfp.h>

void *memset(void *s, int c, size_t n)
{
	u8 *p = s;

	while (n--)
		*p++ = c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

/* The names %pGg prints: the lab's allocator knows only two kinds of request. */
static const char *gfp_name(gfp_t gfp)
{
	if (gfp == GFP_KERNEL)
		return "GFP_KERNEL";
	if (gfp == GFP_ATOMIC)
		return "GFP_ATOMIC";
	return "GFP_?";
}

/* %pGg: the gfp_t a pointer points at, by name (the kernel's extension) */
#define PRINTF_POINTER_EXT(o, fmt, ap)                                          \
	((fmt)[0] == 'G' && (fmt)[1] == 'g'                                     \
		 ? (printf_put_str(o, gfp_name(*va_arg(ap, const gfp_t *))), 2) \
		 : 0)
#include "../lib/vsnprintf.c"

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* The kernel's unbounded sprintf(), for buffers of a known size such as a sysfs page. */
int sprintf(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, (size_t)-1 >> 1, fmt, ap);
	va_end(ap);
	return n;
}
