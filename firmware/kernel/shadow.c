// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Livepatch shadow variables: <obj, id> keyed data in one hash table, so a patch can give an
 * existing object a new field (see include/lab/shadow.h for the API).
 *
 * Locking: every access holds klp_shadow_lock, lookups included. The kernel looks up without
 * the lock, under RCU, and so must free through kfree_rcu(); the firmware has no call_rcu, and
 * a locked walk of a short chain costs little, so here a variable can be kfree()d as soon as it
 * is unlinked. Constructors and destructors run under the lock, as in the kernel.
 *
 * The allocation itself happens without the lock (a GFP_KERNEL caller may sleep there), which
 * opens a window: two CPUs can both miss <obj, id> and both allocate. The second look under
 * the lock settles it -- the first to link its variable wins, the other frees its copy.
 */
#define pr_fmt(fmt) "livepatch: " fmt
#include <lab/shadow.h>
#include <lab/mm.h>
#include <lab/sched.h>
#include <lab/printk.h>

#define KLP_SHADOW_BUCKETS (1UL << KLP_SHADOW_HASH_BITS)

static struct klp_shadow *klp_shadow_hash[KLP_SHADOW_BUCKETS];
static DEFINE_SPINLOCK(klp_shadow_lock);

/* Variables of one object share a bucket: the hash is of the object's address only. */
static struct klp_shadow **shadow_bucket(void *obj)
{
	return &klp_shadow_hash[((unsigned long)obj * KLP_SHADOW_HASH_MUL) >>
				(64 - KLP_SHADOW_HASH_BITS)];
}

/* The link that points at <obj, id>, or the NULL that ends its chain. Lock held. */
static struct klp_shadow **shadow_link(void *obj, unsigned long id)
{
	struct klp_shadow **link = shadow_bucket(obj);

	while (*link && ((*link)->obj != obj || (*link)->id != id))
		link = &(*link)->next;
	return link;
}

void *klp_shadow_get(void *obj, unsigned long id)
{
	struct klp_shadow *shadow;
	unsigned long flags;

	flags = spin_lock_irqsave(&klp_shadow_lock);
	shadow = *shadow_link(obj, id);
	spin_unlock_irqrestore(&klp_shadow_lock, flags);
	return shadow ? shadow->data : NULL;
}

/* GFP_KERNEL promises the allocation may sleep: not with interrupts or preemption off. */
static void shadow_might_sleep(gfp_t gfp_flags)
{
	if (!(gfp_flags & __GFP_RECLAIM))
		return;
	WARN(irqs_disabled() || preempt_count(),
	     "shadow variable allocation that may sleep (GFP_KERNEL) in atomic context\n");
}

/* <obj, id> exists: klp_shadow_alloc() refuses a second one, klp_shadow_get_or_alloc() takes it. */
static void *shadow_exists(void *obj, unsigned long id, void *data, bool warn_on_exist)
{
	if (WARN(warn_on_exist, "Duplicate shadow variable <%p, %lx>\n", obj, id))
		return NULL;
	return data;
}

/*
 * <obj, id> was missing when the caller looked. Kept out of line: a task found in here has
 * missed and is racing anyone else who missed the same key (the race test looks for it).
 */
static noinline void *klp_shadow_add(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
				     klp_shadow_ctor_t ctor, void *ctor_data, bool warn_on_exist)
{
	struct klp_shadow *shadow, *found, **bucket;
	unsigned long flags;
	int err;

	shadow = kzalloc(sizeof(*shadow) + size);
	if (!shadow)
		return NULL;

	flags = spin_lock_irqsave(&klp_shadow_lock);
	found = *shadow_link(obj, id);
	if (unlikely(found)) {
		/* someone else added it while we allocated */
		spin_unlock_irqrestore(&klp_shadow_lock, flags);
		kfree(shadow);
		return shadow_exists(obj, id, found->data, warn_on_exist);
	}
	shadow->obj = obj;
	shadow->id = id;
	shadow->size = size;
	if (ctor) {
		err = ctor(obj, shadow->data, ctor_data);
		if (err) {
			spin_unlock_irqrestore(&klp_shadow_lock, flags);
			kfree(shadow);
			pr_err("Failed to construct shadow variable <%p, %lx> (%d)\n", obj, id,
			       err);
			return NULL;
		}
	}
	/* published only now, fully constructed */
	bucket = shadow_bucket(obj);
	shadow->next = *bucket;
	WRITE_ONCE(*bucket, shadow);
	spin_unlock_irqrestore(&klp_shadow_lock, flags);
	return shadow->data;
}

static void *__klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
				       klp_shadow_ctor_t ctor, void *ctor_data, bool warn_on_exist)
{
	void *data;

	shadow_might_sleep(gfp_flags);
	data = klp_shadow_get(obj, id);
	if (data)
		return shadow_exists(obj, id, data, warn_on_exist);
	return klp_shadow_add(obj, id, size, gfp_flags, ctor, ctor_data, warn_on_exist);
}

/* A new <obj, id>; NULL (with a warning) when it exists already. */
void *klp_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
		       klp_shadow_ctor_t ctor, void *ctor_data)
{
	return __klp_shadow_get_or_alloc(obj, id, size, gfp_flags, ctor, ctor_data, true);
}

/* <obj, id>, allocated and constructed if it does not exist yet; the constructor runs once. */
void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
			      klp_shadow_ctor_t ctor, void *ctor_data)
{
	return __klp_shadow_get_or_alloc(obj, id, size, gfp_flags, ctor, ctor_data, false);
}

/* Unlinks *link and destroys its data; the caller frees it once the lock is dropped. Lock held. */
static struct klp_shadow *shadow_unlink(struct klp_shadow **link, klp_shadow_dtor_t dtor)
{
	struct klp_shadow *shadow = *link;

	WRITE_ONCE(*link, shadow->next);
	if (dtor)
		dtor(shadow->obj, shadow->data);
	return shadow;
}

void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor)
{
	struct klp_shadow **link, *shadow = NULL;
	unsigned long flags;

	flags = spin_lock_irqsave(&klp_shadow_lock);
	link = shadow_link(obj, id);
	if (*link)
		shadow = shadow_unlink(link, dtor);
	spin_unlock_irqrestore(&klp_shadow_lock, flags);
	kfree(shadow);
}

/* Every variable with this id, whatever its object (a patch going away cleans up after itself). */
void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor)
{
	struct klp_shadow **link, *shadow, *unlinked = NULL;
	unsigned long flags, i;

	flags = spin_lock_irqsave(&klp_shadow_lock);
	for (i = 0; i < KLP_SHADOW_BUCKETS; i++) {
		link = &klp_shadow_hash[i];
		while (*link) {
			if ((*link)->id != id) {
				link = &(*link)->next;
				continue;
			}
			shadow = shadow_unlink(link, dtor);
			/* nobody can see it any more: its link can chain the ones to free */
			shadow->next = unlinked;
			unlinked = shadow;
		}
	}
	spin_unlock_irqrestore(&klp_shadow_lock, flags);
	while (unlinked) {
		shadow = unlinked;
		unlinked = shadow->next;
		kfree(shadow);
	}
}
