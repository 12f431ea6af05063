/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Error numbers, Linux's values: the host and user programs read them as Linux's. */
#ifndef LAB_ERRNO_H
#define LAB_ERRNO_H

#define EPERM  1
#define ENOENT 2
#define ESRCH  3
#define EINTR  4
#define EBADF  9
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY  16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOSYS 38

#endif
