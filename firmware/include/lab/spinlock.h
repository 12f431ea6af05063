/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Spinlocks and interrupt flags. Every vCPU runs in one host thread, one quantum at a time, so a
 * locked instruction is atomic across vCPUs; a waiter spins until its quantum ends.
 */
#ifndef LAB_SPINLOCK_H
#define LAB_SPINLOCK_H
#include <lab/types.h>

typedef struct {
	volatile u32 locked;
	u32 owner_cpu;
} spinlock_t;

#define SPINLOCK_INIT  \
	{              \
		0, ~0u \
	}
#define DEFINE_SPINLOCK(x) spinlock_t x = SPINLOCK_INIT

static __always_inline unsigned long arch_local_save_flags(void)
{
	unsigned long flags;

	__asm__ __volatile__("pushfq; popq %0" : "=r"(flags) : : "memory");
	return flags;
}

static __always_inline void local_irq_disable(void)
{
	__asm__ __volatile__("cli" ::: "memory");
}

static __always_inline void local_irq_enable(void)
{
	__asm__ __volatile__("sti" ::: "memory");
}

static __always_inline bool irqs_disabled(void)
{
	return !(arch_local_save_flags() & 0x200);
}

static __always_inline unsigned long local_irq_save(void)
{
	unsigned long flags = arch_local_save_flags();

	local_irq_disable();
	return flags;
}

static __always_inline void local_irq_restore(unsigned long flags)
{
	if (flags & 0x200)
		local_irq_enable();
}

static __always_inline void cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

void preempt_disable(void);
void preempt_enable(void);
void preempt_enable_no_resched(void);

void raw_spin_lock(spinlock_t *lock);
void raw_spin_unlock(spinlock_t *lock);
bool raw_spin_trylock(spinlock_t *lock);

static inline void spin_lock(spinlock_t *lock)
{
	preempt_disable();
	raw_spin_lock(lock);
}

static inline void spin_unlock(spinlock_t *lock)
{
	raw_spin_unlock(lock);
	preempt_enable();
}

static inline unsigned long spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags = local_irq_save();

	preempt_disable();
	raw_spin_lock(lock);
	return flags;
}

static inline void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	raw_spin_unlock(lock);
	local_irq_restore(flags);
	preempt_enable();
}

#endif
