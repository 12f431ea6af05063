/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Included before every module source, as Kbuild does: the configuration (CONFIG_X 1 for =y,
 * CONFIG_X_MODULE 1 for =m, generated from Makefile.flags) and the IS_ENABLED() family.
 */
#ifndef _LINUX_KCONFIG_H
#define _LINUX_KCONFIG_H
#include <generated/autoconf.h>

/*
 * 1 if the option is a macro defined to 1, else 0, usable in #if and in C: pasting the
 * option's value onto __lab_kc_yes_ gives "0," only for 1, which shifts the 1 into the
 * second argument's place.
 */
#define __lab_kc_yes_1		     0,
#define __lab_kc_second(a, b, ...)   b
#define __lab_kc_pick(junk_or_comma) __lab_kc_second(junk_or_comma 1, 0)
#define __lab_kc_paste(value)	     __lab_kc_pick(__lab_kc_yes_##value)
#define __lab_kc_defined(option)     __lab_kc_paste(option)

#define IS_BUILTIN(option)	     __lab_kc_defined(option)
#define IS_MODULE(option)	     __lab_kc_defined(option##_MODULE)
#define IS_ENABLED(option)	     (IS_BUILTIN(option) || IS_MODULE(option))
#define IS_REACHABLE(option)	     IS_ENABLED(option)

#endif
