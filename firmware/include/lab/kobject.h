/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kobjects and their sysfs files, as far as modules use them: a directory under
 * /sys/kernel (kernel_kobj) with attribute files whose show/store functions the module
 * provides. The tree is in guest memory; the host walks it from kernel_kobj to list, read and
 * write the files (src/kernel/sysfs.ts), calling show/store in task context, as a read of the
 * file would.
 */
#ifndef LAB_KOBJECT_H
#define LAB_KOBJECT_H
#include <lab/list.h>

typedef unsigned short umode_t;

struct attribute {
	const char *name;
	umode_t mode;
};

struct kobject;

/* A file of a kobject's directory, created by sysfs_create_file(). */
struct sysfs_file {
	struct list_head entry; /* on kobject::files */
	const struct attribute *attr;
};

struct kobject {
	const char *name;
	struct kobject *parent;
	struct list_head entry;	   /* on the parent's children */
	struct list_head children; /* kobjects below this one */
	struct list_head files;	   /* struct sysfs_file */
	int refcount;
	char name_buf[32]; /* name points here for kobjects made by kobject_create_and_add() */
};

struct kobj_attribute {
	struct attribute attr;
	ssize_t (*show)(struct kobject *kobj, struct kobj_attribute *attr, char *buf);
	ssize_t (*store)(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			 size_t count);
};

/* The size of the buffer a show function fills, as the kernel's sysfs page. */
#define SYSFS_BUF_SIZE 4096

#define __ATTR(_name, _mode, _show, _store)                                                   \
	{                                                                                     \
		.attr = {.name = #_name, .mode = (_mode)}, .show = (_show), .store = (_store) \
	}
#define __ATTR_RO(_name) __ATTR(_name, 0444, _name##_show, NULL)
#define __ATTR_WO(_name) __ATTR(_name, 0200, NULL, _name##_store)
#define __ATTR_RW(_name) __ATTR(_name, 0644, _name##_show, _name##_store)

extern struct kobject *kernel_kobj; /* /sys/kernel */

struct kobject *kobject_create_and_add(const char *name, struct kobject *parent);
struct kobject *kobject_get(struct kobject *kobj);
void kobject_put(struct kobject *kobj);
int sysfs_create_file(struct kobject *kobj, const struct attribute *attr);
void sysfs_remove_file(struct kobject *kobj, const struct attribute *attr);

#endif
