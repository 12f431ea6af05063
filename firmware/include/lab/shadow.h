/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Livepatch shadow variables (the kernel's include/linux/livepatch.h API, kernel/shadow.c):
 * data a patch attaches to an existing object without changing the object's layout. A variable
 * is keyed by <obj, id> -- the address of the object it extends and a number the patch picks
 * for the kind of data -- and lives in one hash table shared by every patch, so a later patch
 * (or a replace patch) finds what an earlier one attached.
 *
 * The table is in the image, not in a module: patch modules come and go, their variables stay.
 * Patch modules call these functions directly (the loader binds a module's undefined symbols to
 * any image symbol). The host reads the table through src/livepatch/shadow.ts, which is why the
 * structure is declared here and its layout goes to the host through asm-offsets.c.
 */
#ifndef LAB_SHADOW_H
#define LAB_SHADOW_H
#include <lab/types.h>
#include <lab/gfp.h>

/* 2^8 buckets: the lab has a few hundred variables at most. */
#define KLP_SHADOW_HASH_BITS 8
/* hash_64()'s multiplier: bucket = (obj * KLP_SHADOW_HASH_MUL) >> (64 - bits). */
#define KLP_SHADOW_HASH_MUL 0x61c8864680b583ebUL

struct klp_shadow {
	struct klp_shadow *next; /* the bucket's chain, newest first */
	void *obj;
	unsigned long id;
	size_t size; /* of data[], for the host's view; the kernel does not keep it */
	char data[] __aligned(8);
};

/*
 * ctor runs with the table locked, before the variable becomes visible: it must not sleep, and
 * a non-zero return abandons the allocation. dtor runs with the table locked too, just before
 * the variable is freed.
 */
typedef int (*klp_shadow_ctor_t)(void *obj, void *shadow_data, void *ctor_data);
typedef void (*klp_shadow_dtor_t)(void *obj, void *shadow_data);

void *klp_shadow_get(void *obj, unsigned long id);
void *klp_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
		       klp_shadow_ctor_t ctor, void *ctor_data);
void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
			      klp_shadow_ctor_t ctor, void *ctor_data);
void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor);
void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor);

#endif
