/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * __init and __exit: the kernel frees init text after the init ran; the lab keeps a module's
 * text whole, so the markers are only what they say (an __exit function stays, for rmmod).
 */
#ifndef _LINUX_INIT_H
#define _LINUX_INIT_H
#include <linux/compiler.h>

#define __init __cold
#define __exit __cold
#define __initdata
#define __exitdata

#endif
