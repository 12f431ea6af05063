/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the workloads (firmware/workloads/) offer the rest of the image and each other: init,
 * the kernel threads a boot's workload starts, and the functions the tests trace or patch.
 */
#ifndef LAB_WORKLOADS_H
#define LAB_WORKLOADS_H
#include <lab/types.h>

/* init.c: pid 1 */
int kernel_init(void *unused);

/* kthreads.c */
void start_workload_kthreads(unsigned int workload);
void spawn(int (*fn)(void *), long arg, const char *fmt, int cpu);

/* klp_bench.c */
void start_klp_bench(void);

/* targets.c: kept out of line so ftrace and livepatch find them whole */
noinline int lab_probe(void);
noinline int lab_probe_alt(void);
noinline void lab_fault_null(void);

/* the patch targets the livepatch tests and the benchmark replace */
noinline int deep_sleep(unsigned long seen, int mode); /* kthreads.c */
noinline u64 crunch_step(u64 x);		       /* kthreads.c */
noinline int klp_bench_wait(long id);		       /* klp_bench.c */

#endif
