// SPDX-License-Identifier: GPL-2.0-or-later
/* Test-and-set spinlocks; the owner is recorded so the host can say who holds a lock. */
#include <lab/sched.h>

bool raw_spin_trylock(spinlock_t *lock)
{
	u32 old = 1;

	__asm__ __volatile__("xchgl %0, %1" : "+r"(old), "+m"(lock->locked) : : "memory");
	if (old)
		return false;
	lock->owner_cpu = smp_processor_id();
	return true;
}

void raw_spin_lock(spinlock_t *lock)
{
	while (!raw_spin_trylock(lock)) {
		while (READ_ONCE(lock->locked))
			cpu_relax();
	}
}

void raw_spin_unlock(spinlock_t *lock)
{
	lock->owner_cpu = ~0u;
	barrier();
	WRITE_ONCE(lock->locked, 0);
}
