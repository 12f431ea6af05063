// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Functions the host rewrites or watches, kept in their own translation unit so no caller can
 * see (and fold) what they return.
 */
#include <lab/types.h>
#include <lab/workloads.h>

extern int *volatile lab_null_ptr;

noinline int lab_probe(void)
{
	return 1;
}

/* What ftrace's tests redirect lab_probe() to: the same signature, another answer. */
noinline int lab_probe_alt(void)
{
	return 2;
}

noinline void lab_fault_null(void)
{
	*lab_null_ptr = 42;
}
