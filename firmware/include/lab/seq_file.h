/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seq_file, the part a show function uses: the host hands a /proc file's show function a
 * seq_file over a buffer of its own (as `cat` reads the file) and takes what was printed.
 */
#ifndef LAB_SEQ_FILE_H
#define LAB_SEQ_FILE_H
#include <lab/types.h>

struct seq_file {
	char *buf;
	size_t size;  /* of buf */
	size_t count; /* printed so far; past size: the output did not fit */
	void *private;
};

__printf(2, 3) void seq_printf(struct seq_file *m, const char *fmt, ...);
void seq_vprintf(struct seq_file *m, const char *fmt, va_list ap);
void seq_puts(struct seq_file *m, const char *s);
void seq_putc(struct seq_file *m, char c);

/* What overflowed the buffer: the kernel would retry with a larger one. */
static inline bool seq_has_overflowed(struct seq_file *m)
{
	return m->count > m->size;
}

#endif
