/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one vsnprintf of the firmware, for the kernel (kernel/lib.c) and for the user C library
 * (user/libc/libc.c), which include this file: the two run in different worlds (kernel headers
 * and the kernel's code model, or a position-independent user program) but format alike.
 *
 * Conversions: %d %i %u %x %p %s %c %%, the l/ll/z length modifiers, a field width, and the 0
 * and - flags. An includer may define PRINTF_POINTER_EXT(o, fmt, ap) to print the kernel's %p
 * extensions: a macro (it takes the argument with va_arg in vsnprintf's own frame) given the
 * text after the 'p', whose value is how many of those characters it took, having printed the
 * argument, or 0 to leave the %p to be printed as an address. Needs size_t, va_list and va_arg
 * from the includer's headers.
 */

struct printf_out {
	char *buf;
	size_t size, len;
};

/* The length counts what would have been written, so a caller learns the size it needs. */
static void printf_put(struct printf_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void printf_put_str(struct printf_out *o, const char *s)
{
	while (*s)
		printf_put(o, *s++);
}

static void printf_put_num(struct printf_out *o, unsigned long long v, int base, int neg, int width,
			   int zero, int left)
{
	char digits[24];
	int n = 0, pad;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	pad = width - n - neg;
	/* zero padding goes between the sign and the digits, space padding before the sign */
	if (neg && zero && !left)
		printf_put(o, '-');
	while (!left && pad-- > 0)
		printf_put(o, zero ? '0' : ' ');
	if (neg && !(zero && !left))
		printf_put(o, '-');
	while (n)
		printf_put(o, digits[--n]);
	while (left && pad-- > 0)
		printf_put(o, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct printf_out o = {buf, size, 0};

	for (; *fmt; fmt++) {
		int width = 0, lng = 0, zero = 0, left = 0;

		if (*fmt != '%') {
			printf_put(&o, *fmt);
			continue;
		}
		fmt++;
		for (; *fmt == '-' || *fmt == '0'; fmt++)
			*fmt == '-' ? (left = 1) : (zero = 1);
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng++;
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long s = lng ? va_arg(ap, long long) : va_arg(ap, int);

			printf_put_num(&o, s < 0 ? -(unsigned long long)s : (unsigned long long)s,
				       10, s < 0, width, zero, left);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v =
				lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);

			printf_put_num(&o, v, *fmt == 'u' ? 10 : 16, 0, width, zero, left);
			break;
		}
		case 'p': {
#ifdef PRINTF_POINTER_EXT
			int took = PRINTF_POINTER_EXT(&o, fmt + 1, ap);

			if (took) {
				fmt += took;
				break;
			}
#endif
			printf_put(&o, '0');
			printf_put(&o, 'x');
			printf_put_num(&o, (unsigned long)va_arg(ap, void *), 16, 0, width, zero,
				       left);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = 0;

			if (!s)
				s = "(null)";
			while (s[len])
				len++;
			while (!left && width-- > len)
				printf_put(&o, ' ');
			printf_put_str(&o, s);
			while (left && width-- > len)
				printf_put(&o, ' ');
			break;
		}
		case 'c':
			printf_put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			printf_put(&o, '%');
			break;
		default:
			/* an unknown conversion is printed as it stands */
			printf_put(&o, '%');
			if (!*fmt)
				goto out;
			printf_put(&o, *fmt);
		}
	}
out:
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return o.len;
}
