/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fixed-width types and the few compiler helpers every file of the firmware uses. */
#ifndef LAB_TYPES_H
#define LAB_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long s64;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;
typedef _Bool bool;

#define true 1
#define false 0
#define NULL				((void *)0)

#define offsetof(t, m)			__builtin_offsetof(t, m)
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define ALIGN(x, a)			(((x) + ((a)-1)) & ~((typeof(x))(a)-1))

#define likely(x)			__builtin_expect(!!(x), 1)
#define unlikely(x)			__builtin_expect(!!(x), 0)
#define __always_inline			inline __attribute__((always_inline))
#define noinline			__attribute__((noinline))
#define __noreturn			__attribute__((noreturn))
#define __aligned(x)			__attribute__((aligned(x)))
#define __section(s)			__attribute__((section(s)))
#define __used				__attribute__((used))
#define __maybe_unused			__attribute__((unused))
#define __packed			__attribute__((packed))
#define __printf(a, b)			__attribute__((format(printf, a, b)))

/* Compiler barrier; the emulated vCPUs are sequentially consistent with each other. */
#define barrier()	 __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x)	 (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#define smp_mb()	 __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#define smp_wmb()	 barrier()
#define smp_rmb()	 barrier()

typedef __builtin_va_list va_list;
#define va_start(v, l) __builtin_va_start(v, l)
#define va_end(v)      __builtin_va_end(v)
#define va_arg(v, l)   __builtin_va_arg(v, l)

#endif
