/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The livepatch API of a patch module: struct klp_patch (.mod = THIS_MODULE first, then
 * objs, states, replace) of klp_object of klp_func, callbacks, klp_state, shadow variables,
 * klp_enable_patch(), klp_get_state(), klp_get_prev_state(), and klp-convert's
 * KLP_MODULE_RELOC()/KLP_SYMPOS() annotations.
 */
#ifndef _LINUX_LIVEPATCH_H
#define _LINUX_LIVEPATCH_H
#include <linux/module.h>
#include <linux/ftrace.h>
#include <lab/livepatch.h>
#include <lab/shadow.h>
#include <lab/klp_convert.h>

#endif
