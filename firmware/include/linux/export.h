/* SPDX-License-Identifier: GPL-2.0-or-later */
/* EXPORT_SYMBOL(): the symbol becomes resolvable by modules loaded later. */
#ifndef _LINUX_EXPORT_H
#define _LINUX_EXPORT_H
#include <lab/module.h>

#define EXPORT_SYMBOL_GPL(sym) EXPORT_SYMBOL(sym)

#endif
