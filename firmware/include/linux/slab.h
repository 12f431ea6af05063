/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kmalloc() and friends with the kernel's arguments. The lab's allocator never sleeps and
 * takes no flags, so they are evaluated and dropped; kfree(NULL) is fine, as in the kernel.
 */
#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H
#include <linux/types.h>
#include <lab/mm.h>

/* (kmalloc)(...) calls the function, not this macro */
#define kmalloc(size, flags)	      ((void)(flags), (kmalloc)(size))
#define kzalloc(size, flags)	      ((void)(flags), (kzalloc)(size))
#define kcalloc(n, size, flags)	      kzalloc((n) * (size), flags)
#define kmalloc_array(n, size, flags) kmalloc((n) * (size), flags)

#endif
