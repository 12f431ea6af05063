/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tasks, per-CPU state and the scheduler's interface. */
#ifndef LAB_SCHED_H
#define LAB_SCHED_H
#include <lab/types.h>
#include <lab/list.h>
#include <lab/spinlock.h>
#include <lab/ptrace.h>
#include <lab/hw.h>

/* task_struct::__state */
#define TASK_RUNNING	     0x0000
#define TASK_INTERRUPTIBLE   0x0001
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_DEAD	     0x0080

/* task_struct::flags */
#define PF_IDLE	   0x00000002
#define PF_EXITING 0x00000004
/* a user task the host spawned for one of its processes (src/kernel/exec.ts): its stdio is there */
#define PF_HOSTPROC 0x00000008
#define PF_KTHREAD  0x00200000

/* thread_info flags, the x86 bit numbers */
#define TIF_NOTIFY_RESUME  1
#define TIF_SIGPENDING	   2
#define TIF_NEED_RESCHED   3
#define TIF_NOTIFY_SIGNAL  5
#define TIF_PATCH_PENDING  13
#define _TIF_NOTIFY_RESUME (1UL << TIF_NOTIFY_RESUME)
#define _TIF_SIGPENDING	   (1UL << TIF_SIGPENDING)
#define _TIF_NEED_RESCHED  (1UL << TIF_NEED_RESCHED)
#define _TIF_NOTIFY_SIGNAL (1UL << TIF_NOTIFY_SIGNAL)
#define _TIF_PATCH_PENDING (1UL << TIF_PATCH_PENDING)

/* The livepatch per-task state, as in include/linux/livepatch.h */
#define KLP_UNDEFINED	 -1
#define KLP_UNPATCHED	 0
#define KLP_PATCHED	 1

#define TASK_COMM_LEN	 16
#define NSIG		 32
#define TIME_SLICE_TICKS 3

/* pcpu::hotplug_state (kernel/cpu.c) */
#define CPU_UP	  0 /* up, or coming up: the scheduler may place tasks here */
#define CPU_DYING 1 /* going down: queued and running tasks are pushed away */
#define CPU_DEAD  2 /* its idle task parked in cpu_play_dead(), the vCPU halted */

struct thread_info {
	unsigned long flags;
};

struct thread_struct {
	unsigned long sp; /* saved kernel stack pointer while switched out */
};

struct k_sigaction {
	u64 handler; /* user address, 0 = default, 1 = ignore */
	u64 restorer;
};

struct task_struct {
	struct thread_info thread_info; /* first, as with CONFIG_THREAD_INFO_IN_TASK */
	volatile long __state;
	void *stack; /* THREAD_SIZE bytes, pt_regs at the top */
	int preempt_count;
	int cpu;	/* runqueue the task is on or last ran on */
	int on_cpu;	/* running, or being switched away from */
	int on_rq;	/* runnable: queued or running */
	int pinned_cpu; /* -1: may run anywhere */
	int time_slice;
	unsigned int flags; /* PF_* */
	int pid;
	int exit_code;
	int patch_state;    /* KLP_* */
	spinlock_t pi_lock; /* serialises wakeups of this task */
	struct list_head run_list;
	struct list_head tasks; /* all tasks but the idle ones */
	struct task_struct *parent;
	u64 nvcsw, nivcsw; /* voluntary and involuntary switches */
	u64 utime_ticks, stime_ticks;
	u64 user_stack; /* base of the user stack, user tasks only */
	u32 sig_pending;
	u32 sig_blocked;
	u32 saved_sigmask;   /* rt_sigsuspend's caller's mask, put back on the way out */
	u32 restore_sigmask; /* saved_sigmask is to be put back (TS_RESTORE_SIGMASK) */
	spinlock_t sig_lock;
	struct k_sigaction sighand[NSIG];
	struct thread_struct thread;
	char comm[TASK_COMM_LEN];
	/*
	 * RCU-tasks quiescent states the task reported itself (cond_resched_tasks_rcu_qs()): a
	 * kernel loop that never sleeps says it holds no trampoline, which cond_resched() alone,
	 * an involuntary switch at most, does not say.
	 */
	u64 rcu_tasks_qs;
};

struct rq {
	spinlock_t lock;
	struct list_head queue; /* runnable tasks waiting for this cpu */
	unsigned int nr_queued;
	struct task_struct *curr;
	struct task_struct *idle;
	u64 nr_switches;
	struct list_head timers; /* pending timer_list entries, earliest first */
	struct task_struct
		*push_task; /* switched away from, may not stay: finish_task_switch() moves it */
};

/* The 64-bit TSS: the CPU reads sp0 when an interrupt arrives from user mode. */
struct tss_struct {
	u32 reserved0;
	u64 sp0;
	u64 sp1;
	u64 sp2;
	u64 reserved1;
	u64 ist[7];
	u32 reserved2;
	u16 reserved3;
	u16 io_bitmap_base;
} __packed;

typedef void (*smp_call_func_t)(void *info);

/* Everything one CPU owns; %gs points at it. */
struct pcpu {
	struct pcpu *self;
	struct task_struct *current_task;
	int cpu;
	int online;		    /* cpu_online(): cleared when it starts going down */
	volatile int hotplug_state; /* CPU_UP, CPU_DYING, CPU_DEAD */
	u64 irq_count;
	u64 timer_ticks;
	smp_call_func_t call_func; /* pending CALL_FUNCTION_VECTOR work */
	void *call_info;
	volatile int call_done;
	volatile unsigned long rcu_qs; /* quiescent states passed (see kernel/rcu.c) */
	volatile int rcu_idle;	       /* in the idle loop's extended quiescent state */
	struct rq rq;
	struct tss_struct tss __aligned(16);
} __aligned(64);

extern struct pcpu per_cpu[NR_CPUS];
extern struct task_struct idle_tasks[NR_CPUS];
extern struct task_struct init_task; /* idle task of cpu 0, head of the task list */
extern spinlock_t tasklist_lock;
extern unsigned int nr_cpu_ids;
extern volatile unsigned long jiffies;
extern unsigned int HZ;
extern int preempt_full;

static __always_inline struct pcpu *this_cpu(void)
{
	struct pcpu *p;

	__asm__("movq %%gs:%c1, %0" : "=r"(p) : "i"(offsetof(struct pcpu, self)));
	return p;
}

static __always_inline struct task_struct *get_current(void)
{
	struct task_struct *t;

	__asm__ __volatile__("movq %%gs:%c1, %0"
			     : "=r"(t)
			     : "i"(offsetof(struct pcpu, current_task)));
	return t;
}
#define current get_current()

/* The current task's preemption count, and changes to it that neither call nor reschedule. */
static __always_inline int preempt_count(void)
{
	return current->preempt_count;
}

static __always_inline void __preempt_count_add(int val)
{
	current->preempt_count += val;
}

static __always_inline void __preempt_count_sub(int val)
{
	current->preempt_count -= val;
}

/*
 * Preemption off and on around code on the traced path (the ftrace walk, the livepatch
 * handler, the switch of a task's patch state, preemption from an interrupt): inline, so no
 * call to a traceable function can recurse into the tracer, and the enable never reschedules
 * -- a pending preemption waits for the next interrupt or cond_resched(). The kernel's
 * preempt_enable_notrace() would reschedule; its no_resched variant is what these sites want.
 */
static __always_inline void preempt_disable_notrace(void)
{
	__preempt_count_add(1);
	barrier();
}

static __always_inline void preempt_enable_no_resched_notrace(void)
{
	barrier();
	__preempt_count_sub(1);
}

static __always_inline int smp_processor_id(void)
{
	int cpu;

	__asm__ __volatile__("movl %%gs:%c1, %0" : "=r"(cpu) : "i"(offsetof(struct pcpu, cpu)));
	return cpu;
}

static inline bool test_tsk_thread_flag(struct task_struct *t, int flag)
{
	return (READ_ONCE(t->thread_info.flags) >> flag) & 1;
}

static inline void set_tsk_thread_flag(struct task_struct *t, int flag)
{
	__asm__ __volatile__("lock; btsq %1, %0"
			     : "+m"(t->thread_info.flags)
			     : "Ir"((long)flag)
			     : "memory");
}

static inline void clear_tsk_thread_flag(struct task_struct *t, int flag)
{
	__asm__ __volatile__("lock; btrq %1, %0"
			     : "+m"(t->thread_info.flags)
			     : "Ir"((long)flag)
			     : "memory");
}

static inline bool test_and_clear_tsk_thread_flag(struct task_struct *t, int flag)
{
	bool old;

	__asm__ __volatile__("lock; btrq %2, %0"
			     : "+m"(t->thread_info.flags), "=@ccc"(old)
			     : "Ir"((long)flag)
			     : "memory");
	return old;
}

static inline bool need_resched(void)
{
	return test_tsk_thread_flag(current, TIF_NEED_RESCHED);
}

static inline bool signal_pending(struct task_struct *t)
{
	return test_tsk_thread_flag(t, TIF_SIGPENDING) ||
	       test_tsk_thread_flag(t, TIF_NOTIFY_SIGNAL);
}

static inline bool cpu_online(int cpu)
{
	return READ_ONCE(per_cpu[cpu].online);
}

/* May tasks be queued on cpu? A cpu still booting may; one going or gone down may not. */
static inline bool cpu_active(int cpu)
{
	return READ_ONCE(per_cpu[cpu].hotplug_state) == CPU_UP;
}

static inline bool is_idle_task(const struct task_struct *t)
{
	return t->flags & PF_IDLE;
}

static inline struct pt_regs *task_pt_regs(struct task_struct *t)
{
	return (struct pt_regs *)((char *)t->stack + THREAD_SIZE) - 1;
}

#define set_current_state(s)                       \
	do {                                       \
		WRITE_ONCE(current->__state, (s)); \
		smp_mb();                          \
	} while (0)
#define __set_current_state(s) WRITE_ONCE(current->__state, (s))

void sched_init(void);
void sched_init_cpu(int cpu);
void schedule(void);
void preempt_schedule_irq(void);
void schedule_idle(void);
int _cond_resched(void);
#define cond_resched() _cond_resched()
/* cond_resched() in a loop that must not hold RCU-tasks grace periods up (its own count, read by the host) */
#define cond_resched_tasks_rcu_qs()                                           \
	do {                                                                  \
		WRITE_ONCE(current->rcu_tasks_qs, current->rcu_tasks_qs + 1); \
		cond_resched();                                               \
	} while (0)
long schedule_timeout(long ticks);
void msleep(unsigned int msecs);
int wake_up_process(struct task_struct *p);
int wake_up_state(struct task_struct *p, unsigned int state);
void wake_up_new_task(struct task_struct *p);
void resched_curr(struct rq *rq);
void resched_cpu(int cpu);
void scheduler_tick(void);
void tick_handle_periodic(struct pt_regs *regs);
void scheduler_ipi(void);
void sched_idle_balance(void);
void finish_task_switch(struct task_struct *prev);
void schedule_tail(struct task_struct *prev);
__noreturn void cpu_startup_entry(void);
void smp_send_reschedule(int cpu);
void smp_call_function_single(int cpu, smp_call_func_t func, void *info);
void generic_smp_call_function_interrupt(void);
int set_cpus_allowed_ptr(struct task_struct *p, int cpu);
void sched_cpu_deactivate(int cpu);
void timers_dead_cpu(int cpu);

/* kernel/cpu.c: cpu hotplug */
int cpu_down(int cpu);
int cpu_up(int cpu);
void cpu_play_dead(void);

/* kernel/rcu.c: RCU-sched style grace periods */
static inline void rcu_all_qs(void)
{
	struct pcpu *pc = this_cpu();

	WRITE_ONCE(pc->rcu_qs, pc->rcu_qs + 1);
}
#define rcu_note_context_switch(cpu) rcu_all_qs()

/*
 * The idle loop's extended quiescent state: RCU stops watching the cpu (entering it is a
 * quiescent state, and synchronize_rcu() counts a cpu found in it as one). An interrupt that
 * comes meanwhile is watched again for as long as it runs (rcu_irq_enter/exit, from do_IRQ).
 */
static __always_inline void rcu_idle_enter(void)
{
	rcu_all_qs();
	WRITE_ONCE(this_cpu()->rcu_idle, 1);
}

static __always_inline void rcu_idle_exit(void)
{
	WRITE_ONCE(this_cpu()->rcu_idle, 0);
}

static __always_inline int rcu_irq_enter(void)
{
	int idle = READ_ONCE(this_cpu()->rcu_idle);

	WRITE_ONCE(this_cpu()->rcu_idle, 0);
	return idle;
}

static __always_inline void rcu_irq_exit(int idle)
{
	WRITE_ONCE(this_cpu()->rcu_idle, idle);
}

void synchronize_rcu(void);
void synchronize_rcu_every_cpu(void);

/* kernel/cpuidle.c */
bool cpuidle_not_available(void);

struct task_struct *__switch_to_asm(struct task_struct *prev, struct task_struct *next);
struct task_struct *__switch_to(struct task_struct *prev, struct task_struct *next);

/* fork.c / exit.c */
#define CLONE_USER 0x1 /* the child returns to user mode */
struct task_struct *copy_process(unsigned long clone_flags, int (*fn)(void *), void *arg,
				 const struct pt_regs *user_regs, const char *comm);
struct task_struct *copy_process_pid(unsigned long clone_flags, int (*fn)(void *), void *arg,
				     const struct pt_regs *user_regs, const char *comm, int set_tid,
				     int *err);
struct task_struct *kthread_create(int (*fn)(void *), void *arg, const char *comm);
struct task_struct *kthread_run(int (*fn)(void *), void *arg, const char *comm);
void kthread_bind(struct task_struct *p, int cpu);
long user_task_create(u64 entry, u64 arg, const char *comm);
long user_task_spawn(u64 entry, u64 argc, u64 argv, int pid);
int kernel_execve_user(u64 entry, u64 arg, u64 arg2, u64 arg3, const char *comm);
int kill_pid(int pid, int sig);
/* the host calls it to wait for tasklist_lock holders (kernel/fork.c) */
void lab_tasklist_barrier(void);
__noreturn void do_exit(long code);
__noreturn void do_task_dead(void);
struct task_struct *find_task_by_pid(int pid);
void release_task(struct task_struct *p);

/* signal.c */
int send_signal(struct task_struct *p, int sig);
void signal_wake_up(struct task_struct *t);
void set_notify_signal(struct task_struct *t);
void recalc_sigpending(void);
void set_current_blocked(u32 mask);
void arch_do_signal_or_restart(struct pt_regs *regs);
void flush_signals(struct task_struct *t);

static inline void set_task_comm(struct task_struct *t, const char *name)
{
	int i;

	for (i = 0; i < TASK_COMM_LEN - 1 && name[i]; i++)
		t->comm[i] = name[i];
	t->comm[i] = 0;
}

#endif
