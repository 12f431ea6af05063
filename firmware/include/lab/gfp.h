/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Allocation flags, kept so that code reads as it would in the kernel. Our kmalloc() never
 * sleeps, but a caller asking for GFP_KERNEL says it may sleep, and shadow.c holds it to that.
 */
#ifndef LAB_GFP_H
#define LAB_GFP_H

typedef unsigned int gfp_t;
#define __GFP_RECLAIM 0x1u
#define GFP_ATOMIC    0x0u
#define GFP_NOWAIT    GFP_ATOMIC
#define GFP_KERNEL    __GFP_RECLAIM

#endif
