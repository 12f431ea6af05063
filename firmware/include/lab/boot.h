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

/*
 * The other fixes of transition.c's history whose absence shows, each undone by one bit (the
 * host's livepatch core reads them where the fix was in the core; src/lab/quirks.ts and
 * docs/history.md say what goes wrong):
 * d0807da78e11 ("livepatch: Remove immediate feature"): every patch is immediate -- no task
 *   is switched, no stack is checked, the handler takes the newest func at once;
 * e3ff7c609f39 ("livepatch,sched: Add livepatch task switching to cond_resched()"): the
 *   transition does not enable the cond_resched() switch point;
 * 5de62ea84abd ("sched,livepatch: Use wake_up_if_idle()"): idle cpus are not woken;
 * 1daf08a066cf ("livepatch: Replace deprecated CPU-hotplug functions."): an offline cpu's idle
 *   task is tried like an online one's instead of switched as it is;
 * 43347d56c8d9 ("livepatch: send a fake signal to all blocking tasks"): no fake signal, so
 *   a task asleep in a patched function holds the transition up until something wakes it;
 * 2957308343fa ("livepatch: Don't block removal of patches that are safe to unload"): a
 *   forced transition marks every patch forced;
 * 68007289 ("livepatch: Don't block the removal of patches loaded after a forced transition"):
 *   one forced transition keeps every patch module, later ones too, from being released;
 * 7e35e4eb ("livepatch: Keep replaced patches until post_patch callback is called"): the
 *   patches a replace patch supersedes are gone before its post_patch callbacks run;
 * 8df1947c71ee ("livepatch: Replace the fake signal sending with TIF_NOTIFY_SIGNAL
 *   infrastructure"): the fake signal is TIF_SIGPENDING with nothing queued, set the way a
 *   signal's sender sets it, which the task's next recalc_sigpending() clears (in the guest:
 *   klp_send_signals()).
 * 842c0884 ("livepatch: Fix stacking of patches with respect to RCU"): livepatch's grace
 *   periods are synchronize_rcu()'s, which do not wait for an idle cpu RCU is not watching,
 *   though the handler may run there (a patched function of the idle path).
 */
#define KLP_QUIRK_IMMEDIATE_D0807DA7		(1U << 1)
#define KLP_QUIRK_NO_COND_RESCHED_E3FF7C60	(1U << 2)
#define KLP_QUIRK_IDLE_NOT_WOKEN_5DE62EA8	(1U << 3)
#define KLP_QUIRK_OFFLINE_IDLE_1DAF08A0		(1U << 4)
#define KLP_QUIRK_NO_FAKE_SIGNAL_43347D56	(1U << 5)
#define KLP_QUIRK_FORCE_MARKS_ALL_29573083	(1U << 6)
#define KLP_QUIRK_FORCED_GLOBAL_68007289	(1U << 7)
#define KLP_QUIRK_REPLACED_FREED_EARLY_7E35E4EB (1U << 8)
#define KLP_QUIRK_SIGPENDING_8DF1947C		(1U << 9)
#define KLP_QUIRK_RCU_IDLE_842C0884		(1U << 10)

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
	WORKLOAD_SIGSUSPEND,  /* a user task waiting in sigsuspend for a SIGUSR1 every tick */
	NR_WORKLOADS
};

#endif
