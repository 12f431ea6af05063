/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The lab's system call numbers under the names <sys/syscall.h> gives them (SYS_getpid, ...). */
#ifndef _SYS_SYSCALL_H
#define _SYS_SYSCALL_H
#include <lab/syscall.h>
#endif
