/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Calls into the host, the lab's hypercalls. `int $0x81` stops the vCPU at once and the host
 * services the call while every vCPU is stopped (Unicorn ends emulation on vmcall, so the lab
 * uses a software interrupt the host intercepts before any IDT delivery).
 *
 * A host call may need guest code to run before it can answer (a livepatch callback, a module's
 * init function): the host then replies "call fn(args)" instead of "done", the caller runs fn
 * in its own task context and resumes the host with the result, until the host says done.
 */
#ifndef LAB_HOSTCALL_H
#define LAB_HOSTCALL_H
#include <lab/types.h>

#define HOSTCALL_VECTOR 0x81

enum host_call_op {
	HC_RESUME = 1,	   /* (reply, value): the result of the call the host asked for */
	HC_HOSTD_WORK,	   /* (reply): run the host's next queued work item; 1 ran one, 0 none */
	HC_WARN,	   /* (file, line, ip): report a WARNING with current's call trace */
	HC_PROC_WRITE,	   /* (fd, buf, len): output of a task the host spawned (PF_HOSTPROC) */
	HC_PROC_EXIT,	   /* (code): a task the host spawned exits */
	HC_KLP_FIRST = 16, /* livepatch calls, see livepatch.h */
};

enum host_reply_kind {
	HOST_REPLY_DONE,
	HOST_REPLY_CALL,
};

struct host_reply {
	long kind;
	long value;			    /* HOST_REPLY_DONE: the result */
	long (*fn)(long, long, long, long); /* HOST_REPLY_CALL */
	long args[4];
};

long host_call(long op, long a0, long a1, long a2);
void host_event_interrupt(void);
void hostd_start(void);

#endif
