/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's module API over the lab's (lab/module.h): module_init()/module_exit() in their
 * MODULE form, THIS_MODULE, the MODULE_*() tags, parameters. As in the kernel, it brings in
 * what module code commonly relies on without including it: lists, kobjects and sysfs,
 * mutexes, printk.
 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/list.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/moduleparam.h>
#include <linux/export.h>
#include <linux/stat.h>
#include <lab/module.h>

/* MODULE_INFO(tag, "value"): one more "tag=value" string in .modinfo. */
#define MODULE_INFO(tag, info)	 __MODULE_INFO(tag, info)
#define MODULE_ALIAS(_alias)	 MODULE_INFO(alias, _alias)
#define MODULE_SOFTDEP(_softdep) MODULE_INFO(softdep, _softdep)
#define MODULE_VERSION(_version) MODULE_INFO(version, _version)
#define MODULE_IMPORT_NS(ns)	 MODULE_INFO(import_ns, __stringify(ns))

#endif
