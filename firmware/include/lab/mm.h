/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Memory: a bump allocator over the RAM after the image, with per-size free lists. */
#ifndef LAB_MM_H
#define LAB_MM_H
#include <lab/types.h>

void mm_init(u64 start, u64 end);
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);
void *alloc_thread_stack(void);
void free_thread_stack(void *stack);
u64 mm_free_bytes(void);

#endif
