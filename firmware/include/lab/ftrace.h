/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Function tracing, the part livepatch needs. Every kernel C function starts with a 5-byte NOP
 * listed in __mcount_loc; the host turns the NOP of a traced function into a call to
 * ftrace_regs_caller (arch/ftrace_64.S), which saves the registers as a struct pt_regs and runs
 * every ftrace_ops on ftrace_ops_list that filters on that function. A handler may change
 * regs->ip: the trampoline then returns there instead of into the traced function.
 *
 * The host owns the ops: it allocates them in host-managed guest memory, fills every field
 * (their offsets reach it through asm-offsets) and links them into ftrace_ops_list while every
 * vCPU is stopped. The guest only reads them.
 */
#ifndef LAB_FTRACE_H
#define LAB_FTRACE_H
#include <lab/types.h>
#include <lab/hw.h>

struct pt_regs;
struct ftrace_ops;

/* Keeps gcc from emitting the fentry NOP: ftrace's own code and every handler must be notrace. */
#ifndef notrace
#define notrace __attribute__((no_instrument_function))
#endif

/* Length of the fentry site: the NOP and the call that replaces it. */
#define MCOUNT_INSN_SIZE 5

typedef void (*ftrace_func_t)(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *op,
			      struct pt_regs *regs);

/* ftrace_ops::flags */
#define FTRACE_OPS_FL_ENABLED	(1UL << 0) /* on ftrace_ops_list (set by the host) */
#define FTRACE_OPS_FL_IPMODIFY	(1UL << 1) /* may change regs->ip: one such ops per site */
#define FTRACE_OPS_FL_PERMANENT (1UL << 2) /* keeps kernel.ftrace_enabled at 1 while registered */

struct ftrace_ops {
	ftrace_func_t func;	 /* notrace guest handler */
	struct ftrace_ops *next; /* ftrace_ops_list, newest first */
	unsigned long flags;
	unsigned long ip; /* the one fentry site this ops filters on (0: none) */
	void *private;	  /* the owner's data (livepatch: its struct klp_ops) */
};

/* The registered ops, newest first; written by the host only. */
extern struct ftrace_ops *volatile ftrace_ops_list;

/*
 * The kernel.ftrace_enabled sysctl's value, written by the host's sysctl handler. While it is 0
 * every fentry site holds its NOP, and no ops with FTRACE_OPS_FL_PERMANENT may be registered.
 */
extern int ftrace_enabled;

/*
 * Grace periods for the host: ftrace_cpu_depth[cpu] counts list walks in progress on a cpu
 * (more than one when an interrupt nests a walk in another); on leaving a walk the cpu lowers
 * ftrace_cpu_lowmark[cpu] to its new depth. The host sets lowmark = depth when it unlinks an
 * ops, and frees the ops once every lowmark is 0: every walk that could have seen it is over.
 */
extern volatile unsigned long ftrace_cpu_depth[NR_CPUS];
extern volatile unsigned long ftrace_cpu_lowmark[NR_CPUS];

void ftrace_regs_caller(void);
void ftrace_ops_list_func(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *op,
			  struct pt_regs *regs);
void ftrace_ops_assist_func(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *op,
			    struct pt_regs *regs);

/*
 * The tests' handler: counts hits per cpu and remembers the caller, counts frames that do not
 * describe the traced function's entry in ftrace_test_bad, redirects to op->private when it is
 * set, and trashes the caller-saved registers when ftrace_test_scramble is set.
 */
extern volatile unsigned long ftrace_test_hits[NR_CPUS];
extern volatile unsigned long ftrace_test_parent[NR_CPUS];
extern volatile unsigned long ftrace_test_bad;
extern volatile int ftrace_test_scramble;
void ftrace_test_handler(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *op,
			 struct pt_regs *regs);

#endif
