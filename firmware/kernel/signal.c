// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Signals: a pending mask per task and a handler table. Delivery happens on the way back to
 * user mode: the handler runs on the user stack with the interrupted registers saved in a
 * frame that rt_sigreturn() restores. TIF_NOTIFY_SIGNAL only forces a task through that path.
 *
 * A system call that a signal interrupted returns -ERESTART*; on the way out it is either
 * restarted (the task re-executes its int $0x80 with the original registers) or, when a
 * handler is about to run, fails with -EINTR. A wakeup without any signal (TIF_NOTIFY_SIGNAL,
 * livepatch's fake signal) always restarts: the program never notices it.
 *
 * TIF_SIGPENDING says "a signal the task does not block is queued", and every change of the
 * queue or of the blocked mask recomputes it (recalc_sigpending()): set if one is, cleared if
 * none is. A TIF_SIGPENDING set with nothing queued therefore lasts only until the task's next
 * recomputation, while TIF_NOTIFY_SIGNAL lasts until the task goes through the signal path.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/lib.h>
#include <lab/syscalls.h>

struct rt_sigframe {
	u64 pretcode; /* the handler returns here: the restorer, which calls rt_sigreturn */
	u64 sig;
	u64 mask; /* the blocked mask rt_sigreturn puts back (sigsuspend's saved one) */
	struct pt_regs regs;
};

/* The signals nobody can block. */
#define UNBLOCKABLE (1u << SIGKILL)

/*
 * TIF_SIGPENDING of current from its queue and blocked mask; the caller holds its sig_lock.
 * Only current's: another task may be on its way out of a system call that returned
 * -ERESTART* because of the flag, and must still find it there.
 */
void recalc_sigpending(void)
{
	struct task_struct *t = current;

	if (t->sig_pending & ~t->sig_blocked)
		set_tsk_thread_flag(t, TIF_SIGPENDING);
	else
		clear_tsk_thread_flag(t, TIF_SIGPENDING);
}

/* sigprocmask() and friends: a new blocked mask, and TIF_SIGPENDING recomputed with it. */
void set_current_blocked(u32 mask)
{
	struct task_struct *t = current;
	unsigned long flags;

	mask &= ~UNBLOCKABLE;
	/* an unchanged mask changes nothing: no recomputation either */
	if (READ_ONCE(t->sig_blocked) == mask)
		return;
	flags = spin_lock_irqsave(&t->sig_lock);
	t->sig_blocked = mask;
	recalc_sigpending();
	spin_unlock_irqrestore(&t->sig_lock, flags);
}

/*
 * User sigsets are Linux's: bit n - 1 for signal n, 64 bits. The task's masks keep bit n for
 * signal n, NSIG of them.
 */
static u32 sigset_from_user(u64 set)
{
	return (u32)(set << 1) & ~1u;
}

static u64 sigset_to_user(u32 mask)
{
	return mask >> 1;
}

/*
 * rt_sigprocmask(how, set, oset): the lab's system calls take three arguments, so there is no
 * sigsetsize; set and oset may be NULL.
 */
long sys_rt_sigprocmask(const struct pt_regs *regs)
{
	struct task_struct *t = current;
	const u64 *uset = (const u64 *)regs->si;
	u64 *uoset = (u64 *)regs->dx;
	u32 old = t->sig_blocked, set;

	if (uset) {
		set = sigset_from_user(*uset);
		switch (regs->di) {
		case SIG_BLOCK:
			set |= old;
			break;
		case SIG_UNBLOCK:
			set = old & ~set;
			break;
		case SIG_SETMASK:
			break;
		default:
			return -EINVAL;
		}
		set_current_blocked(set);
	}
	if (uoset)
		*uoset = sigset_to_user(old);
	return 0;
}

/*
 * rt_sigsuspend(set): wait for a signal with `set` as the blocked mask. The mask the task had
 * is put back on the way out: by the signal frame when a handler runs (rt_sigreturn), else by
 * the signal path before the call is restarted. A wakeup with no signal (a fake signal)
 * restarts the call; a handler makes it fail with -EINTR, as it always ends.
 */
long sys_rt_sigsuspend(const struct pt_regs *regs)
{
	struct task_struct *t = current;

	t->saved_sigmask = t->sig_blocked;
	set_current_blocked(sigset_from_user(*(const u64 *)regs->di));
	while (!signal_pending(t)) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule();
	}
	t->restore_sigmask = 1;
	return -ERESTARTNOHAND;
}

/* Make sure t notices new work: wake it if it sleeps interruptibly, else kick its cpu. */
void signal_wake_up(struct task_struct *t)
{
	int cpu;

	if (wake_up_state(t, TASK_INTERRUPTIBLE))
		return;
	cpu = READ_ONCE(t->cpu);
	if (READ_ONCE(t->on_cpu) && cpu != smp_processor_id())
		smp_send_reschedule(cpu);
}

/*
 * Makes a task go through the signal path on its way back to user mode without any signal
 * (livepatch's fake signal): wake it if it sleeps interruptibly, else kick its cpu.
 */
void set_notify_signal(struct task_struct *t)
{
	if (!test_tsk_thread_flag(t, TIF_NOTIFY_SIGNAL)) {
		set_tsk_thread_flag(t, TIF_NOTIFY_SIGNAL);
		signal_wake_up(t);
	}
}

int send_signal(struct task_struct *p, int sig)
{
	unsigned long flags;

	if (sig <= 0 || sig >= NSIG)
		return -EINVAL;
	flags = spin_lock_irqsave(&p->sig_lock);
	p->sig_pending |= 1u << sig;
	set_tsk_thread_flag(p, TIF_SIGPENDING);
	spin_unlock_irqrestore(&p->sig_lock, flags);
	signal_wake_up(p);
	return 0;
}

void flush_signals(struct task_struct *t)
{
	unsigned long flags = spin_lock_irqsave(&t->sig_lock);

	t->sig_pending = 0;
	clear_tsk_thread_flag(t, TIF_SIGPENDING);
	spin_unlock_irqrestore(&t->sig_lock, flags);
}

static int dequeue_signal(struct task_struct *t)
{
	unsigned long flags = spin_lock_irqsave(&t->sig_lock);
	u32 pending = t->sig_pending & ~t->sig_blocked;
	int sig = 0;

	if (pending) {
		sig = __builtin_ctz(pending);
		t->sig_pending &= ~(1u << sig);
	}
	recalc_sigpending();
	spin_unlock_irqrestore(&t->sig_lock, flags);
	return sig;
}

static void setup_rt_frame(int sig, struct k_sigaction *ka, struct pt_regs *regs, u32 mask)
{
	/* below the interrupted stack, aligned so the handler sees a normal call frame */
	u64 sp = ((regs->sp - sizeof(struct rt_sigframe)) & ~15UL) - 8;
	struct rt_sigframe *frame = (struct rt_sigframe *)sp;

	frame->pretcode = ka->restorer;
	frame->sig = sig;
	frame->mask = mask;
	frame->regs = *regs;
	regs->sp = sp;
	regs->ip = ka->handler;
	regs->di = sig;
}

/* The length of int $0x80: a restarted system call goes back this far to execute it again. */
#define INT80_INSN_SIZE 2

/*
 * A system call returning -ERESTART* on the way to user mode. `handler`: a handler runs next,
 * and the interrupted call fails with -EINTR unless it asked to be restarted in any case (we
 * have no SA_RESTART). Otherwise the task goes back to its int $0x80 with the system call
 * number in rax again and every argument register as it was.
 */
static void syscall_restart(struct pt_regs *regs, bool handler)
{
	long ret = regs->ax;

	if (syscall_get_nr(regs) < 0)
		return;
	if (ret != -ERESTARTSYS && ret != -ERESTARTNOHAND && ret != -ERESTARTNOINTR)
		return;
	if (handler && ret != -ERESTARTNOINTR) {
		regs->ax = -EINTR;
		return;
	}
	regs->ax = regs->orig_ax;
	regs->ip -= INT80_INSN_SIZE;
}

/* On every return to user mode with TIF_SIGPENDING or TIF_NOTIFY_SIGNAL set. */
void arch_do_signal_or_restart(struct pt_regs *regs)
{
	struct task_struct *t = current;
	struct k_sigaction *ka;
	int sig;

	clear_tsk_thread_flag(t, TIF_NOTIFY_SIGNAL);
	sig = dequeue_signal(t);
	if (sig) {
		ka = &t->sighand[sig];
		if (sig != SIGKILL && ka->handler > 1) {
			/* the frame saves the registers the handler returns to: settle them first */
			syscall_restart(regs, true);
			/* and the mask rt_sigreturn restores: the one sigsuspend replaced, if it did */
			setup_rt_frame(sig, ka, regs,
				       t->restore_sigmask ? t->saved_sigmask : t->sig_blocked);
			t->restore_sigmask = 0;
			lab_event(EV_SIGNAL, t->pid, sig, 1);
			return;
		}
		lab_event(EV_SIGNAL, t->pid, sig, 0);
		if (ka->handler != 1 && sig != SIGCHLD)
			do_exit(sig);
	}
	/* no handler runs (a fake signal, an ignored one): the interrupted call goes on */
	syscall_restart(regs, false);
	if (t->restore_sigmask) {
		t->restore_sigmask = 0;
		set_current_blocked(t->saved_sigmask);
	}
}

long sys_rt_sigreturn(const struct pt_regs *unused)
{
	/* the frame to restore is the one the entry saved: current's (a syscall's regs are const) */
	struct pt_regs *regs = task_pt_regs(current);
	/* the handler's ret consumed pretcode */
	struct rt_sigframe *frame = (struct rt_sigframe *)(regs->sp - 8);

	set_current_blocked(frame->mask);
	*regs = frame->regs;
	/* the restored frame is not a system call's: it must never be restarted as one */
	regs->orig_ax = -1;
	regs->cs = __USER_CS;
	regs->ss = __USER_DS;
	regs->flags = (regs->flags & 0xcd5) | X86_EFLAGS_IF | X86_EFLAGS_FIXED;
	return regs->ax;
}

long sys_rt_sigaction(const struct pt_regs *regs)
{
	int sig = regs->di;

	if (sig <= 0 || sig >= NSIG || sig == SIGKILL)
		return -EINVAL;
	current->sighand[sig].handler = regs->si;
	current->sighand[sig].restorer = regs->dx;
	return 0;
}

/* kill(2) and the host's kill command: the pid is looked up and signalled under tasklist_lock. */
int kill_pid(int pid, int sig)
{
	struct task_struct *p;
	int ret = -ESRCH;
	unsigned long flags = spin_lock_irqsave(&tasklist_lock);

	list_for_each_entry (p, &init_task.tasks, tasks) {
		if (p->pid == pid && !(p->flags & PF_EXITING)) {
			ret = send_signal(p, sig);
			break;
		}
	}
	spin_unlock_irqrestore(&tasklist_lock, flags);
	return ret;
}

long sys_kill(const struct pt_regs *regs)
{
	return kill_pid(regs->di, regs->si);
}
