/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Compiler attributes modules use, besides those of lab/types.h. */
#ifndef _LINUX_COMPILER_H
#define _LINUX_COMPILER_H
#include <linux/types.h>

#define __visible	__attribute__((externally_visible))
#define __cold		__attribute__((cold))
#define __weak		__attribute__((weak))
#define __must_check	__attribute__((warn_unused_result))
#define __always_unused __attribute__((unused))
#define notrace		__attribute__((no_instrument_function))

#endif
