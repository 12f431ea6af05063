/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Freestanding string helpers and port I/O. */
#ifndef LAB_LIB_H
#define LAB_LIB_H
#include <lab/types.h>

void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
char *strscpy_simple(char *d, const char *s, size_t n);

static __always_inline void outl(u32 value, u16 port)
{
	__asm__ __volatile__("outl %0, %w1" : : "a"(value), "Nd"(port) : "memory");
}

/* Deterministic pseudo-random numbers for workloads (xorshift64*). */
static inline u64 prandom_next(u64 *state)
{
	u64 x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dUL;
}

#endif
