// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The C half of function tracing: the list walk the trampoline (arch/ftrace_64.S) calls at
 * every enabled fentry site, and a small handler the host's tests trace functions with. The
 * host keeps ftrace_ops_list and flips the sites; nothing here writes an ops or code.
 *
 * Everything in this file is notrace (no fentry NOP): the trampoline runs it, and a traced site
 * here would send the trampoline back into itself. Handlers must be notrace too, must not sleep,
 * and must not call functions that are themselves traced with the same ops.
 */
#include <lab/ftrace.h>
#include <lab/ptrace.h>
#include <lab/sched.h>

struct ftrace_ops *volatile ftrace_ops_list;
int ftrace_enabled = 1;
volatile unsigned long ftrace_cpu_depth[NR_CPUS];
volatile unsigned long ftrace_cpu_lowmark[NR_CPUS];

/*
 * A walk runs with preemption off, so a walk that started on a cpu ends on it and the per-cpu
 * depth the host reads for its grace periods is exact; an interrupt may still nest a walk on the
 * same cpu. The per-cpu data is read through %gs: ops may only be registered once the cpus have
 * booted.
 */
static __always_inline int ftrace_walk_begin(struct task_struct *tsk)
{
	int cpu;

	tsk->preempt_count++;
	barrier();
	cpu = smp_processor_id();
	ftrace_cpu_depth[cpu]++;
	barrier();
	return cpu;
}

static __always_inline void ftrace_walk_end(struct task_struct *tsk, int cpu)
{
	unsigned long depth;

	/* no ops is touched past this point: the host may free what it unlinked */
	barrier();
	depth = ftrace_cpu_depth[cpu] - 1;
	ftrace_cpu_depth[cpu] = depth;
	if (depth < ftrace_cpu_lowmark[cpu])
		ftrace_cpu_lowmark[cpu] = depth;
	barrier();
	/* no rescheduling here: a pending preemption waits for the next interrupt or cond_resched */
	tsk->preempt_count--;
}

/*
 * Runs the handler of every ops that filters on ip. Called by ftrace_regs_caller with
 * op = NULL and regs = the traced function's registers at its entry.
 */
notrace void ftrace_ops_list_func(unsigned long ip, unsigned long parent_ip,
				  struct ftrace_ops *unused, struct pt_regs *regs)
{
	struct task_struct *tsk = current;
	struct ftrace_ops *op;
	int cpu = ftrace_walk_begin(tsk);

	for (op = ftrace_ops_list; op; op = READ_ONCE(op->next))
		if (READ_ONCE(op->ip) == ip)
			op->func(ip, parent_ip, op, regs);
	ftrace_walk_end(tsk, cpu);
}

/*
 * Runs the handler of the one ops a dynamic trampoline serves (the trampoline loads op itself).
 * The call is counted as a walk, so the host's grace periods protect op and op->private exactly
 * as for the list function; a task stopped in the trampoline before this call cannot bring back
 * an op the host has freed, as the host points a retired trampoline's call at the list function.
 */
notrace void ftrace_ops_assist_func(unsigned long ip, unsigned long parent_ip,
				    struct ftrace_ops *op, struct pt_regs *regs)
{
	struct task_struct *tsk = current;
	int cpu = ftrace_walk_begin(tsk);

	op->func(ip, parent_ip, op, regs);
	ftrace_walk_end(tsk, cpu);
}

volatile unsigned long ftrace_test_hits[NR_CPUS];
volatile unsigned long ftrace_test_parent[NR_CPUS];
volatile unsigned long ftrace_test_bad;
volatile int ftrace_test_scramble;

/*
 * The tests' handler. It counts the calls per cpu, remembers the caller, checks that the frame
 * the trampoline built describes the traced function's entry (ip, the return address at sp,
 * kernel segments), and redirects the call to op->private when that is set. With
 * ftrace_test_scramble set it also trashes every caller-saved register on its way out, so the
 * tests see that the trampoline restores them from regs.
 */
notrace void ftrace_test_handler(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *op,
				 struct pt_regs *regs)
{
	int cpu = smp_processor_id();

	ftrace_test_hits[cpu]++;
	ftrace_test_parent[cpu] = parent_ip;
	if (regs->ip != ip || *(unsigned long *)regs->sp != parent_ip || regs->cs != __KERNEL_CS ||
	    regs->ss != __KERNEL_DS)
		ftrace_test_bad++;
	if (op->private)
		regs->ip = (unsigned long)op->private;
	if (ftrace_test_scramble)
		__asm__ __volatile__("movq $-0x5a5a5a5a, %%rax\n\t"
				     "movq %%rax, %%rcx\n\tmovq %%rax, %%rdx\n\t"
				     "movq %%rax, %%rsi\n\tmovq %%rax, %%rdi\n\t"
				     "movq %%rax, %%r8\n\tmovq %%rax, %%r9\n\t"
				     "movq %%rax, %%r10\n\tmovq %%rax, %%r11"
				     :
				     :
				     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
				       "memory");
}
