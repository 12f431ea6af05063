/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dynamic debug: each pr_debug() call site is a descriptor in the __dyndbg section (of the
 * image, or of the module it is in), off until the host's control file sets its 'p' flag. The
 * call site tests the flag in guest memory, so a pr_debug that is off costs one load.
 */
#ifndef LAB_DYNAMIC_DEBUG_H
#define LAB_DYNAMIC_DEBUG_H
#include <lab/types.h>

struct _ddebug {
	const char *modname;
	const char *function;
	const char *filename;
	const char *format;
	unsigned int lineno;
	unsigned int flags;
} __aligned(8);

/* the control file's letters p, m, f, l, t, in this order (src/kernel/dynamic-debug.ts) */
#define _DPRINTK_FLAGS_PRINT	     (1 << 0)
#define _DPRINTK_FLAGS_INCL_MODNAME  (1 << 1)
#define _DPRINTK_FLAGS_INCL_FUNCNAME (1 << 2)
#define _DPRINTK_FLAGS_INCL_LINENO   (1 << 3)
#define _DPRINTK_FLAGS_INCL_TID	     (1 << 4)

/* image code is named after its file (cf. the kernel's KBUILD_MODNAME for built-in objects) */
#ifndef KBUILD_MODNAME
#define KBUILD_MODNAME "kernel"
#endif

__printf(2, 3) void __dynamic_pr_debug(struct _ddebug *descriptor, const char *fmt, ...);

#define dynamic_pr_debug(fmt, ...)                                                           \
	do {                                                                                 \
		static struct _ddebug __used __section("__dyndbg") __aligned(8) __ddebug = { \
			.modname = KBUILD_MODNAME,                                           \
			.function = __func__,                                                \
			.filename = __FILE__,                                                \
			.format = (fmt),                                                     \
			.lineno = __LINE__,                                                  \
		};                                                                           \
		if (unlikely(READ_ONCE(__ddebug.flags) & _DPRINTK_FLAGS_PRINT))              \
			__dynamic_pr_debug(&__ddebug, fmt, ##__VA_ARGS__);                   \
	} while (0)

#endif
