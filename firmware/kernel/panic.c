// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The guest half of a WARNING: the report is the host's (src/kernel/warn.ts), which has the
 * symbols and the ORC unwinder; the guest hands it the site and stays where it is, so the host
 * sees this cpu's registers and current's stack as they are at the warning.
 */
#include <lab/printk.h>
#include <lab/hostcall.h>
#include <lab/ftrace.h>

notrace noinline void __warn(const char *file, int line, unsigned long ip)
{
	__asm__ __volatile__("int $0x81"
			     :
			     : "a"((long)HC_WARN), "D"(file), "S"((long)line), "d"(ip)
			     : "memory");
}
