// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kobject tree under /sys/kernel that modules add to (kobject_create_and_add() under
 * kernel_kobj, sysfs_create_file()). It lives in guest memory; the host reads it to show the
 * files, and calls an attribute's show function to read one.
 */
#include <lab/kobject.h>
#include <lab/mm.h>
#include <lab/lib.h>
#include <lab/errno.h>
#include <lab/spinlock.h>

static struct kobject kernel_kobj_root = {
	.name = "kernel",
	.entry = LIST_HEAD_INIT(kernel_kobj_root.entry),
	.children = LIST_HEAD_INIT(kernel_kobj_root.children),
	.files = LIST_HEAD_INIT(kernel_kobj_root.files),
	.refcount = 1,
};
struct kobject *kernel_kobj = &kernel_kobj_root;

/* Guards every kobject's children and files lists; the host reads them with the vCPUs stopped. */
static DEFINE_SPINLOCK(kobj_lock);

struct kobject *kobject_create_and_add(const char *name, struct kobject *parent)
{
	struct kobject *kobj, *sib;
	unsigned long flags;

	if (!parent || !name || strlen(name) >= sizeof(kobj->name_buf))
		return NULL;
	kobj = kzalloc(sizeof(*kobj));
	if (!kobj)
		return NULL;
	memcpy(kobj->name_buf, name, strlen(name) + 1);
	kobj->name = kobj->name_buf;
	kobj->parent = parent;
	kobj->refcount = 1;
	INIT_LIST_HEAD(&kobj->children);
	INIT_LIST_HEAD(&kobj->files);
	flags = spin_lock_irqsave(&kobj_lock);
	/* a name taken in that directory: the kernel's -EEXIST, which this API reports as NULL */
	list_for_each_entry (sib, &parent->children, entry) {
		if (!strcmp(sib->name, name)) {
			spin_unlock_irqrestore(&kobj_lock, flags);
			kfree(kobj);
			return NULL;
		}
	}
	list_add_tail(&kobj->entry, &parent->children);
	spin_unlock_irqrestore(&kobj_lock, flags);
	return kobj;
}

struct kobject *kobject_get(struct kobject *kobj)
{
	if (kobj)
		__sync_fetch_and_add(&kobj->refcount, 1);
	return kobj;
}

/* The last reference gone: the directory goes, with its files (their attributes are the module's). */
void kobject_put(struct kobject *kobj)
{
	struct sysfs_file *f, *tmp;
	unsigned long flags;

	if (!kobj || kobj == kernel_kobj || __sync_sub_and_fetch(&kobj->refcount, 1))
		return;
	flags = spin_lock_irqsave(&kobj_lock);
	list_del_init(&kobj->entry);
	spin_unlock_irqrestore(&kobj_lock, flags);
	/* out of the tree: nobody else can reach its files now */
	list_for_each_entry_safe (f, tmp, &kobj->files, entry)
		kfree(f);
	kfree(kobj);
}

int sysfs_create_file(struct kobject *kobj, const struct attribute *attr)
{
	struct sysfs_file *f, *pos;
	unsigned long flags;

	if (!kobj || !attr || !attr->name)
		return -EINVAL;
	f = kzalloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->attr = attr;
	flags = spin_lock_irqsave(&kobj_lock);
	list_for_each_entry (pos, &kobj->files, entry) {
		if (!strcmp(pos->attr->name, attr->name)) {
			spin_unlock_irqrestore(&kobj_lock, flags);
			kfree(f);
			return -EEXIST;
		}
	}
	list_add_tail(&f->entry, &kobj->files);
	spin_unlock_irqrestore(&kobj_lock, flags);
	return 0;
}

void sysfs_remove_file(struct kobject *kobj, const struct attribute *attr)
{
	struct sysfs_file *f, *tmp;
	unsigned long flags = spin_lock_irqsave(&kobj_lock);

	list_for_each_entry_safe (f, tmp, &kobj->files, entry) {
		if (f->attr == attr) {
			list_del_init(&f->entry);
			spin_unlock_irqrestore(&kobj_lock, flags);
			kfree(f);
			return;
		}
	}
	spin_unlock_irqrestore(&kobj_lock, flags);
}
