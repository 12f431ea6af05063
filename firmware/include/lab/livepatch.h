/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Livepatch, the guest's view. A livepatch module declares its patch as C data (klp_patch ->
 * klp_object[] -> klp_func[]) and calls klp_enable_patch() from its init; the livepatch core
 * lives in the host, which reads these structures through the layout, fills their internal
 * fields and builds the klp_ops (one per patched function: its func_stack, newest first) that
 * klp_ftrace_handler() walks at every patched function's entry.
 */
#ifndef LAB_LIVEPATCH_H
#define LAB_LIVEPATCH_H
#include <lab/sched.h>
#include <lab/list.h>
#include <lab/ftrace.h>
#include <lab/hostcall.h>
#include <lab/module.h>

struct klp_object;

struct klp_func {
	/* from the patch author */
	const char *old_name; /* the function to replace */
	void *new_func;	      /* its replacement */
	unsigned long
		old_sympos; /* which of several same-named symbols (kallsyms order), 0: unique */
	/* maintained by the host */
	void *old_func;
	unsigned long old_size, new_size;
	struct list_head stack_node; /* on the klp_ops' func_stack */
	bool nop;		     /* atomic replace: stands for "the original code" */
	bool patched;
	bool transition; /* the handler must look at the task's patch_state */
};

struct klp_callbacks {
	int (*pre_patch)(struct klp_object *obj);
	void (*post_patch)(struct klp_object *obj);
	void (*pre_unpatch)(struct klp_object *obj);
	void (*post_unpatch)(struct klp_object *obj);
	bool post_unpatch_enabled; /* maintained by the host: pre_patch succeeded */
};

struct klp_object {
	const char *name;	/* a loadable module, or NULL for the kernel image */
	struct klp_func *funcs; /* ends with old_name == NULL */
	struct klp_callbacks callbacks;
	/* maintained by the host */
	struct module *mod; /* the loaded module; NULL for vmlinux or while not loaded */
	bool patched;
};

struct klp_state {
	unsigned long id;
	unsigned int version;
	void *data;
};

struct klp_patch {
	struct klp_object *objs;  /* ends with funcs == NULL */
	struct klp_state *states; /* NULL, or ends with id == 0 */
	bool replace;		  /* atomic replace of every older patch */
	/* maintained by the host */
	bool enabled;
	bool forced; /* a task was forced: the module can never be removed */
};

/* What the handler finds through ftrace_ops::private; allocated by the host. */
struct klp_ops {
	struct list_head func_stack;
	struct ftrace_ops fops;
};

/* Written by the host while every vCPU is stopped. */
extern volatile int klp_target_state;
extern volatile int klp_cond_resched_enabled;

enum klp_host_call_op {
	HC_KLP_ENABLE = HC_KLP_FIRST, /* (patch): klp_enable_patch() */
	HC_KLP_TRY_SWITCH,	      /* (): cond_resched(): let current try to switch itself */
	HC_KLP_GET_PREV_STATE,	      /* (id): klp_get_prev_state() */
};

int klp_enable_patch(struct klp_patch *patch);
void klp_ftrace_handler(unsigned long ip, unsigned long parent_ip, struct ftrace_ops *fops,
			struct pt_regs *regs);
void klp_update_patch_state(struct task_struct *task);
void klp_dup_task(struct task_struct *child);
void klp_copy_process(struct task_struct *child);
void __klp_sched_try_switch(void);
/* called by the host: fake signals to the tasks still in transition */
void klp_send_signals(void);
struct klp_state *klp_get_state(struct klp_patch *patch, unsigned long id);
struct klp_state *klp_get_prev_state(unsigned long id);

static inline bool klp_patch_pending(struct task_struct *task)
{
	return test_tsk_thread_flag(task, TIF_PATCH_PENDING);
}

/* From cond_resched(): a CPU-bound kthread may never sleep, so it switches itself here. */
static inline void klp_sched_try_switch(void)
{
	if (unlikely(READ_ONCE(klp_cond_resched_enabled)) && klp_patch_pending(current))
		__klp_sched_try_switch();
}

#endif
