/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Spinlocks with the kernel's spellings. spin_lock_irqsave() is the kernel's macro form here,
 * which stores the flags in its second argument; the firmware's own returns them.
 */
#ifndef _LINUX_SPINLOCK_H
#define _LINUX_SPINLOCK_H
#include <lab/spinlock.h>

#define spin_lock_init(lock)	       (*(lock) = (spinlock_t)SPINLOCK_INIT)
#define spin_lock_irqsave(lock, flags) ((flags) = (spin_lock_irqsave)(lock))

#endif
