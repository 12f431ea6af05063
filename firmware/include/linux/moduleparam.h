/* SPDX-License-Identifier: GPL-2.0-or-later */
/* module_param(), module_param_array(), MODULE_PARM_DESC(): see lab/module.h. */
#ifndef _LINUX_MODULEPARAM_H
#define _LINUX_MODULEPARAM_H
#include <lab/module.h>

#endif
