// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Memory after the image up to the end of RAM. Small power-of-two size classes keep free
 * lists (as a slab would); the rest is carved from a bump pointer. Deterministic: the same
 * sequence of calls gives the same addresses.
 */
#include <lab/mm.h>
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/lib.h>

#define MIN_SHIFT 5
#define MAX_SHIFT 15 /* 32 KiB: task stacks and user stacks fit */
#define HDR	  16 /* size class kept in front of each object */

struct free_obj {
	struct free_obj *next;
};

static u64 heap_next, heap_end;
static struct free_obj *free_lists[MAX_SHIFT + 1];
static DEFINE_SPINLOCK(mm_lock);

void mm_init(u64 start, u64 end)
{
	heap_next = start;
	heap_end = end;
	printk(KERN_INFO "Memory: %luK available at %lx\n", (end - start) >> 10, start);
}

static void *bump(size_t size, size_t align)
{
	u64 p = ALIGN(heap_next, (u64)align);

	if (p + size > heap_end)
		return NULL;
	heap_next = p + size;
	return (void *)p;
}

static int size_class(size_t size)
{
	int shift = MIN_SHIFT;

	while ((1UL << shift) < size + HDR)
		shift++;
	return shift;
}

void *kmalloc(size_t size)
{
	int shift = size_class(size);
	unsigned long flags;
	u64 *obj;

	if (shift > MAX_SHIFT)
		return NULL;
	flags = spin_lock_irqsave(&mm_lock);
	if (free_lists[shift]) {
		obj = (u64 *)free_lists[shift];
		free_lists[shift] = free_lists[shift]->next;
	} else {
		obj = bump(1UL << shift, 16);
	}
	spin_unlock_irqrestore(&mm_lock, flags);
	if (!obj)
		return NULL;
	obj[0] = shift;
	return (char *)obj + HDR;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);

	if (p)
		memset(p, 0, size);
	return p;
}

/* Task stacks: THREAD_SIZE-aligned, so the stack of any address is found by masking. */
static struct free_obj *free_stacks;

void *alloc_thread_stack(void)
{
	unsigned long flags = spin_lock_irqsave(&mm_lock);
	void *p;

	if (free_stacks) {
		p = free_stacks;
		free_stacks = free_stacks->next;
	} else {
		p = bump(THREAD_SIZE, THREAD_SIZE);
	}
	spin_unlock_irqrestore(&mm_lock, flags);
	return p;
}

void free_thread_stack(void *stack)
{
	unsigned long flags = spin_lock_irqsave(&mm_lock);
	struct free_obj *obj = stack;

	obj->next = free_stacks;
	free_stacks = obj;
	spin_unlock_irqrestore(&mm_lock, flags);
}

void kfree(void *ptr)
{
	struct free_obj *obj;
	unsigned long flags;
	int shift;

	if (!ptr)
		return;
	obj = (struct free_obj *)((char *)ptr - HDR);
	shift = *(u64 *)obj;
	flags = spin_lock_irqsave(&mm_lock);
	obj->next = free_lists[shift];
	free_lists[shift] = obj;
	spin_unlock_irqrestore(&mm_lock, flags);
}

u64 mm_free_bytes(void)
{
	return heap_end - heap_next;
}
