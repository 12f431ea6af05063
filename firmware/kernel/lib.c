// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * String helpers and a small vsnprintf (%d %i %u %x %p %s %c %%, l/ll/z, width, 0 and - flags,
 * and the kernel's %pGg for gfp flags, which the shadow variable selftest prints).
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

struct outbuf {
	char *buf;
	size_t size, len;
};

static void put(struct outbuf *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_str(struct outbuf *o, const char *s)
{
	while (*s)
		put(o, *s++);
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

static void put_num(struct outbuf *o, u64 v, int base, bool neg, int width, bool zero, bool left)
{
	char tmp[24];
	int n = 0, pad;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	pad = width - n;
	if (!left && zero && neg) {
		put(o, '-');
		n--;
	}
	while (!left && pad-- > 0)
		put(o, zero ? '0' : ' ');
	while (n)
		put(o, tmp[--n]);
	while (left && pad-- > 0)
		put(o, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct outbuf o = {buf, size, 0};

	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		bool zero = false, left = false;
		u64 v;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			lng++, fmt++;
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 s = lng ? va_arg(ap, s64) : va_arg(ap, int);

			put_num(&o, s < 0 ? -(u64)s : (u64)s, 10, s < 0, width, zero, left);
			break;
		}
		case 'u':
		case 'x':
			v = lng ? va_arg(ap, u64) : va_arg(ap, unsigned int);
			put_num(&o, v, *fmt == 'u' ? 10 : 16, false, width, zero, left);
			break;
		case 'p':
			/* %pGg: the gfp_t a pointer points at, by name (the kernel's extension) */
			if (fmt[1] == 'G' && fmt[2] == 'g') {
				fmt += 2;
				put_str(&o, gfp_name(*va_arg(ap, const gfp_t *)));
				break;
			}
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (u64)va_arg(ap, void *), 16, false, width, zero, left);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len;

			if (!s)
				s = "(null)";
			len = strlen(s);
			while (!left && width-- > len)
				put(&o, ' ');
			while (*s)
				put(&o, *s++);
			while (left && width-- > len)
				put(&o, ' ');
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
			if (!*fmt)
				fmt--;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return o.len;
}

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
