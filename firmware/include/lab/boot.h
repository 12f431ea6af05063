/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Boot parameters the host writes into the image before any vCPU starts (cf. the kernel's
 * boot_params and command line).
 */
#ifndef LAB_BOOT_H
#define LAB_BOOT_H
#include <lab/types.h>

#define BOOT_MAGIC 0x31544f42UL /* "BOT1" */

struct boot_params {
	u64 magic;
	u64 ram_end; /* first address past guest RAM */
	u64 seed;    /* workload pseudo-randomness */
	u32 nr_cpus;
	u32 hz;
	u32 preempt;  /* 0: none (switch only at cond_resched/return to user), 1: full */
	u32 workload; /* WORKLOAD_* */
	u32 nr_user;  /* workload sizing, 0 = its default */
	u32 nr_kthreads;
	u32 loglevel; /* console level: higher-level messages are still recorded */
	u32 quirks;   /* KLP_QUIRK_*: bring back behaviour the kernel has since fixed */
};

/*
 * Before commit 747f7a29 ("livepatch: fix race between fork and KLP transition") a child
 * inherited TIF_PATCH_PENDING with the rest of its parent's thread flags when the task struct
 * was duplicated, long before klp_copy_process() copied patch_state under tasklist_lock; a
 * parent that switched in between left a child at the target state that still had the flag.
 */
#define KLP_QUIRK_FORK_RACE_747F7A29 (1U << 0)

extern struct boot_params boot_params;

enum workload_id {
	WORKLOAD_IDLE = 0,   /* boot, then only the idle tasks and init */
	WORKLOAD_DEFAULT,    /* deep sleepers, CPU-bound kthreads, user tasks hammering syscalls */
	WORKLOAD_CPU_BOUND,  /* CPU-bound kthreads only */
	WORKLOAD_SYSCALL,    /* user tasks hammering a syscall only */
	WORKLOAD_PROBE,	     /* one pinned kthread per CPU calling lab_probe() in a loop */
	WORKLOAD_NULL_DEREF, /* a kthread that dereferences NULL after a while */
	WORKLOAD_FORK,	 /* user tasks forking short-lived children, a kthread forking kthreads */
	WORKLOAD_GETPID, /* user tasks calling getpid in a loop, one per cpu from cpu 1 */
	WORKLOAD_FUTEX_SLEEP, /* a user task asleep in futex_wait until the host releases it */
	WORKLOAD_KLP_BENCH,   /* livepatch benchmark: many deep sleepers, holders, a caller */
	NR_WORKLOADS
};

#endif
