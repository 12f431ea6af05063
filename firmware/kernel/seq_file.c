// SPDX-License-Identifier: GPL-2.0-or-later
/* seq_file output into the buffer the reader (the host, for a /proc file) handed over. */
#include <lab/seq_file.h>
#include <lab/printk.h>

void seq_vprintf(struct seq_file *m, const char *fmt, va_list ap)
{
	size_t room = m->count < m->size ? m->size - m->count : 0;
	int n = vsnprintf(m->buf + m->count, room, fmt, ap);

	/* the kernel marks an overflow by count == size; past size says the same here */
	m->count += n;
}

void seq_printf(struct seq_file *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	seq_vprintf(m, fmt, ap);
	va_end(ap);
}

void seq_puts(struct seq_file *m, const char *s)
{
	seq_printf(m, "%s", s);
}

void seq_putc(struct seq_file *m, char c)
{
	seq_printf(m, "%c", c);
}
