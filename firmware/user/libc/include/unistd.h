/* SPDX-License-Identifier: GPL-2.0-or-later */
/* System calls of the lab's user programs' C library: the int $0x80 ABI (lab/syscall.h). */
#ifndef _UNISTD_H
#define _UNISTD_H
#include <sys/types.h>

#define STDIN_FILENO  0
#define STDOUT_FILENO 1
#define STDERR_FILENO 2

/* syscall(nr, a, b, c): the system call, -1 with errno set if it fails */
long syscall(long nr, ...);
ssize_t write(int fd, const void *buf, size_t len);
pid_t getpid(void);
pid_t getppid(void);
unsigned int sleep(unsigned int seconds);
__attribute__((noreturn)) void _exit(int status);

extern int errno;

#endif
