// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Task creation. copy_process() builds a task whose first switch-in returns into
 * ret_from_fork: kernel threads run a function, user tasks return to user mode with a copy of
 * the parent's registers. The new task joins the task list under tasklist_lock, which is where
 * the kernel settles per-task state that must not race with a livepatch transition.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/lib.h>
#include <lab/mm.h>
#include <lab/livepatch.h>
#include <lab/hostcall.h>
#include <lab/errno.h>

DEFINE_SPINLOCK(tasklist_lock);
static int last_pid;
unsigned int nr_threads;

struct inactive_task_frame {
	u64 r15, r14, r13, r12, bx, bp, ret_addr;
};

extern const char ret_from_fork[];

struct kthread_create_info {
	int (*fn)(void *);
	void *arg;
};

static void free_task(struct task_struct *p)
{
	if (p->user_stack)
		kfree((void *)p->user_stack);
	free_thread_stack(p->stack);
	kfree(p);
}

static bool pid_taken(int pid)
{
	struct task_struct *p;

	list_for_each_entry (p, &init_task.tasks, tasks)
		if (p->pid == pid)
			return true;
	return false;
}

/*
 * Called under tasklist_lock. set_tid > 0 asks for that pid exactly, as clone3()'s set_tid
 * does (-EEXIST if a task has it), and leaves the counter alone; otherwise the next pid no
 * task has, so that a pid handed out on request is never given twice.
 */
static int alloc_pid(int set_tid)
{
	if (set_tid > 0)
		return pid_taken(set_tid) ? -EEXIST : set_tid;
	do {
		if (++last_pid <= 0)
			last_pid = 1;
	} while (pid_taken(last_pid));
	return last_pid;
}

struct task_struct *copy_process(unsigned long clone_flags, int (*fn)(void *), void *arg,
				 const struct pt_regs *user_regs, const char *comm)
{
	return copy_process_pid(clone_flags, fn, arg, user_regs, comm, 0, NULL);
}

/* copy_process() with a chosen pid (set_tid > 0); *err says why it returned NULL. */
struct task_struct *copy_process_pid(unsigned long clone_flags, int (*fn)(void *), void *arg,
				     const struct pt_regs *user_regs, const char *comm, int set_tid,
				     int *err)
{
	int pid;
	struct task_struct *p = kzalloc(sizeof(*p));
	struct inactive_task_frame *frame;
	struct pt_regs *childregs;
	unsigned long flags;

	if (err)
		*err = -ENOMEM;
	if (!p)
		return NULL;
	p->stack = alloc_thread_stack();
	if (!p->stack) {
		kfree(p);
		return NULL;
	}
	p->__state = TASK_RUNNING;
	p->preempt_count = 1; /* dropped by schedule_tail() */
	p->cpu = smp_processor_id();
	p->pinned_cpu = -1;
	p->time_slice = TIME_SLICE_TICKS;
	p->flags = (clone_flags & CLONE_USER) ? 0 : PF_KTHREAD;
	p->parent = current;
	p->patch_state = KLP_UNDEFINED;
	p->pi_lock = (spinlock_t)SPINLOCK_INIT;
	INIT_LIST_HEAD(&p->run_list);
	INIT_LIST_HEAD(&p->tasks);
	set_task_comm(p, comm);
	klp_dup_task(p);

	childregs = task_pt_regs(p);
	frame = (struct inactive_task_frame *)childregs - 1;
	memset(frame, 0, sizeof(*frame));
	frame->ret_addr = (u64)ret_from_fork;
	if (clone_flags & CLONE_USER) {
		*childregs = *user_regs;
		childregs->ax = 0;
		memcpy(p->sighand, current->sighand, sizeof(p->sighand));
	} else {
		memset(childregs, 0, sizeof(*childregs));
		frame->bx = (u64)fn;
		frame->r12 = (u64)arg;
	}
	p->thread.sp = (u64)frame;

	/*
	 * The kernel's allocations between duplicating the task and joining the task list may
	 * sleep; ours do not, but the reschedule point stays. It is also a livepatch switch
	 * point: the parent may switch itself here, after the copy and before klp_copy_process().
	 */
	cond_resched();

	flags = spin_lock_irqsave(&tasklist_lock);
	pid = alloc_pid(set_tid);
	if (pid < 0) {
		spin_unlock_irqrestore(&tasklist_lock, flags);
		if (err)
			*err = pid;
		free_task(p);
		return NULL;
	}
	p->pid = pid;
	list_add_tail(&p->tasks, &init_task.tasks);
	nr_threads++;
	klp_copy_process(p);
	spin_unlock_irqrestore(&tasklist_lock, flags);

	lab_event(EV_FORK, current->pid, p->pid, clone_flags);
	return p;
}

static int kthread(void *data)
{
	struct kthread_create_info info = *(struct kthread_create_info *)data;

	kfree(data);
	do_exit(info.fn(info.arg));
}

struct task_struct *kthread_create(int (*fn)(void *), void *arg, const char *comm)
{
	struct kthread_create_info *info = kmalloc(sizeof(*info));
	struct task_struct *p;

	if (!info)
		return NULL;
	info->fn = fn;
	info->arg = arg;
	p = copy_process(0, kthread, info, NULL, comm);
	if (!p)
		kfree(info);
	return p;
}

void kthread_bind(struct task_struct *p, int cpu)
{
	p->pinned_cpu = cpu;
	p->cpu = cpu;
}

struct task_struct *kthread_run(int (*fn)(void *), void *arg, const char *comm)
{
	struct task_struct *p = kthread_create(fn, arg, comm);

	if (p)
		wake_up_new_task(p);
	return p;
}

/* Give a task a user stack and user-mode registers that enter entry(arg, arg2, arg3). */
int setup_user_regs(struct task_struct *p, struct pt_regs *regs, u64 entry, u64 arg, u64 arg2,
		    u64 arg3);
int setup_user_regs(struct task_struct *p, struct pt_regs *regs, u64 entry, u64 arg, u64 arg2,
		    u64 arg3)
{
	extern const char user_thread_exit[];
	u64 *top;

	p->user_stack = (u64)kmalloc(USER_STACK_SIZE);
	if (!p->user_stack)
		return -1;
	top = (u64 *)(p->user_stack + USER_STACK_SIZE) - 2;
	top[0] = (u64)user_thread_exit; /* where entry() returns to */
	top[1] = 0;
	memset(regs, 0, sizeof(*regs));
	regs->ip = entry;
	regs->cs = __USER_CS;
	regs->ss = __USER_DS;
	regs->flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED;
	regs->sp = (u64)top;
	regs->di = arg;
	regs->si = arg2;
	regs->dx = arg3;
	return 0;
}

/* Turn the calling kernel thread into a user task; it enters user mode when its function returns. */
int kernel_execve_user(u64 entry, u64 arg, u64 arg2, u64 arg3, const char *comm)
{
	struct task_struct *t = current;

	if (setup_user_regs(t, task_pt_regs(t), entry, arg, arg2, arg3))
		return -1;
	t->flags &= ~PF_KTHREAD;
	set_task_comm(t, comm);
	return 0;
}

/* clone() for user tasks: a new task entering entry(arg) on its own user stack. */
long user_task_create(u64 entry, u64 arg, const char *comm)
{
	struct pt_regs regs;
	struct task_struct *p;

	p = copy_process(CLONE_USER, NULL, NULL, task_pt_regs(current), comm);
	if (!p)
		return -12;
	if (setup_user_regs(p, &regs, entry, arg, 0, 0)) {
		release_task(p);
		return -12;
	}
	*task_pt_regs(p) = regs;
	wake_up_new_task(p);
	return p->pid;
}

/*
 * A user task for a process of the host (src/kernel/exec.ts), called in khostd: it enters
 * entry(argc, argv) with the pid the host process has (-EEXIST if a task has it already), and
 * its stdout and stderr go to the host. comm is argv[0]'s last component, as exec sets it.
 */
long user_task_spawn(u64 entry, u64 argc, u64 argv, int pid)
{
	const char *name = argc ? ((const char **)argv)[0] : "";
	const char *base = name;
	struct pt_regs regs;
	struct task_struct *p;
	int err;

	for (; *name; name++)
		if (*name == '/')
			base = name + 1;
	if (pid <= 0)
		return -EINVAL;
	p = copy_process_pid(CLONE_USER, NULL, NULL, task_pt_regs(current), base, pid, &err);
	if (!p)
		return err;
	if (setup_user_regs(p, &regs, entry, argc, argv, 0)) {
		release_task(p);
		return -ENOMEM;
	}
	/* the default action of every signal, whatever khostd had */
	memset(p->sighand, 0, sizeof(p->sighand));
	p->flags |= PF_HOSTPROC;
	*task_pt_regs(p) = regs;
	wake_up_new_task(p);
	return p->pid;
}

void release_task(struct task_struct *p)
{
	unsigned long flags = spin_lock_irqsave(&tasklist_lock);

	if (!list_empty(&p->tasks)) {
		list_del_init(&p->tasks);
		nr_threads--;
	}
	spin_unlock_irqrestore(&tasklist_lock, flags);
	free_task(p);
}

/* The host walks the task list only while nobody holds tasklist_lock: it waits with this. */
void lab_tasklist_barrier(void)
{
	unsigned long flags = spin_lock_irqsave(&tasklist_lock);

	spin_unlock_irqrestore(&tasklist_lock, flags);
}

struct task_struct *find_task_by_pid(int pid)
{
	struct task_struct *p, *found = NULL;
	unsigned long flags = spin_lock_irqsave(&tasklist_lock);

	list_for_each_entry (p, &init_task.tasks, tasks) {
		if (p->pid == pid) {
			found = p;
			break;
		}
	}
	spin_unlock_irqrestore(&tasklist_lock, flags);
	return found;
}

/*
 * @code is a wait status, as the kernel keeps it: an exit's status in bits 8-15, or the signal
 * that ended the task in bits 0-6 (a kthread's return value is kept as it is).
 */
void do_exit(long code)
{
	struct task_struct *t = current;

	t->flags |= PF_EXITING;
	t->exit_code = code;
	lab_event(EV_EXIT, t->pid, code, 0);
	if (t->flags & PF_HOSTPROC)
		host_call(HC_PROC_EXIT, code, 0, 0);
	do_task_dead();
}

void do_task_dead(void)
{
	set_current_state(TASK_DEAD);
	schedule();
	panic("dead task %d scheduled again", current->pid);
	for (;;)
		;
}
