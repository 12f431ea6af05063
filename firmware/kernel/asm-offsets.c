// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's asm-offsets idea: compiled to assembly only, each DEFINE leaves a "->NAME value"
 * marker the Makefile turns into generated/asm-offsets.h (for entry code) and into the image's
 * .lab.layout section, from which the host reads every struct layout and constant it uses.
 * Names with a dot are host-only ("task_struct.pid"); plain identifiers also reach assembly.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/boot.h>
#include <lab/wait.h>
#include <lab/syscall.h>
#include <lab/hostcall.h>
#include <lab/livepatch.h>
#include <lab/ftrace.h>
#include <lab/seq_file.h>
#include <lab/kobject.h>

#define DEFINE_S(str, val) __asm__ __volatile__("\n.ascii \"->" str " %0\"" : : "i"((long)(val)))
#define DEFINE(sym, val)   DEFINE_S(#sym, val)
#define MEMBER(str, mem)   DEFINE(str.mem, offsetof(struct str, mem))
#define SIZE(str)	   DEFINE(sizeof.str, sizeof(struct str))
#define CONST(name)	   DEFINE_S("const." #name, name)

struct inactive_task_frame {
	u64 r15, r14, r13, r12, bx, bp, ret_addr;
};

void common(void);
void common(void)
{
	/* for assembly */
	DEFINE(TASK_threadsp, offsetof(struct task_struct, thread.sp));
	DEFINE(PTREGS_SIZE, sizeof(struct pt_regs));
	DEFINE(PTREGS_cs, offsetof(struct pt_regs, cs));
	DEFINE(THREAD_SHIFT, 14);
	DEFINE(GDT_SIZE, (GDT_ENTRY_TSS + 2 * NR_CPUS) * 8);
	_Static_assert((1 << 14) == THREAD_SIZE, "THREAD_SHIFT");

	/* task_struct */
	SIZE(task_struct);
	MEMBER(task_struct, thread_info.flags);
	MEMBER(task_struct, __state);
	MEMBER(task_struct, stack);
	MEMBER(task_struct, preempt_count);
	MEMBER(task_struct, cpu);
	MEMBER(task_struct, on_cpu);
	MEMBER(task_struct, on_rq);
	MEMBER(task_struct, pinned_cpu);
	MEMBER(task_struct, flags);
	MEMBER(task_struct, pid);
	MEMBER(task_struct, exit_code);
	MEMBER(task_struct, patch_state);
	MEMBER(task_struct, run_list);
	MEMBER(task_struct, tasks);
	MEMBER(task_struct, parent);
	MEMBER(task_struct, nvcsw);
	MEMBER(task_struct, nivcsw);
	MEMBER(task_struct, utime_ticks);
	MEMBER(task_struct, stime_ticks);
	MEMBER(task_struct, sig_pending);
	MEMBER(task_struct, sig_blocked);
	MEMBER(task_struct, sig_lock);
	MEMBER(task_struct, pi_lock);
	MEMBER(task_struct, thread.sp);
	MEMBER(task_struct, comm);
	CONST(TASK_COMM_LEN);

	SIZE(list_head);
	MEMBER(list_head, next);
	MEMBER(list_head, prev);

	SIZE(inactive_task_frame);
	MEMBER(inactive_task_frame, bp);
	MEMBER(inactive_task_frame, ret_addr);

	SIZE(pt_regs);
	MEMBER(pt_regs, r15);
	MEMBER(pt_regs, r14);
	MEMBER(pt_regs, r13);
	MEMBER(pt_regs, r12);
	MEMBER(pt_regs, bp);
	MEMBER(pt_regs, bx);
	MEMBER(pt_regs, r11);
	MEMBER(pt_regs, r10);
	MEMBER(pt_regs, r9);
	MEMBER(pt_regs, r8);
	MEMBER(pt_regs, ax);
	MEMBER(pt_regs, cx);
	MEMBER(pt_regs, dx);
	MEMBER(pt_regs, si);
	MEMBER(pt_regs, di);
	MEMBER(pt_regs, orig_ax);
	MEMBER(pt_regs, ip);
	MEMBER(pt_regs, cs);
	MEMBER(pt_regs, flags);
	MEMBER(pt_regs, sp);
	MEMBER(pt_regs, ss);

	/* per-cpu */
	SIZE(pcpu);
	MEMBER(pcpu, current_task);
	MEMBER(pcpu, cpu);
	MEMBER(pcpu, online);
	MEMBER(pcpu, irq_count);
	MEMBER(pcpu, timer_ticks);
	MEMBER(pcpu, rq);
	MEMBER(pcpu, tss);
	MEMBER(rq, lock);
	MEMBER(rq, queue);
	MEMBER(rq, nr_queued);
	MEMBER(rq, curr);
	MEMBER(rq, idle);
	MEMBER(rq, nr_switches);
	MEMBER(tss_struct, sp0);
	DEFINE(spinlock_t.locked, offsetof(spinlock_t, locked));
	DEFINE(spinlock_t.owner_cpu, offsetof(spinlock_t, owner_cpu));

	/* host interfaces */
	SIZE(boot_params);
	MEMBER(boot_params, magic);
	MEMBER(boot_params, ram_end);
	MEMBER(boot_params, seed);
	MEMBER(boot_params, nr_cpus);
	MEMBER(boot_params, hz);
	MEMBER(boot_params, preempt);
	MEMBER(boot_params, workload);
	MEMBER(boot_params, nr_user);
	MEMBER(boot_params, nr_kthreads);
	MEMBER(boot_params, loglevel);
	CONST(BOOT_MAGIC);
	SIZE(lab_event);
	MEMBER(lab_event, seq);
	MEMBER(lab_event, ts_ns);
	MEMBER(lab_event, type);
	MEMBER(lab_event, cpu);
	MEMBER(lab_event, pid);
	MEMBER(lab_event, a);
	MEMBER(lab_event, b);
	MEMBER(lab_event, c);
	MEMBER(lab_event, text);
	CONST(LAB_EVENT_TEXT);
	SIZE(lab_event_ring);
	MEMBER(lab_event_ring, head);
	MEMBER(lab_event_ring, ev);
	CONST(LAB_EVENT_RING);
	MEMBER(pvclock, ns);

	/* constants */
	CONST(NR_CPUS);
	CONST(THREAD_SIZE);
	CONST(TASK_RUNNING);
	CONST(TASK_INTERRUPTIBLE);
	CONST(TASK_UNINTERRUPTIBLE);
	CONST(TASK_DEAD);
	CONST(PF_IDLE);
	CONST(PF_EXITING);
	CONST(PF_HOSTPROC);
	CONST(PF_KTHREAD);
	CONST(TIF_SIGPENDING);
	CONST(TIF_NEED_RESCHED);
	CONST(TIF_NOTIFY_SIGNAL);
	CONST(TIF_PATCH_PENDING);
	CONST(KLP_UNDEFINED);
	CONST(KLP_UNPATCHED);
	CONST(KLP_PATCHED);
	CONST(PORT_POWEROFF);
	CONST(PORT_PANIC);
	CONST(PORT_IPI);
	CONST(PORT_CPU_ONLINE);
	CONST(PORT_CPU_DEAD);
	CONST(TIMER_VECTOR);
	CONST(SYSCALL_VECTOR);
	CONST(RESCHEDULE_VECTOR);
	CONST(CALL_FUNCTION_VECTOR);
	CONST(__KERNEL_CS);
	CONST(__USER_CS);
	CONST(EV_PRINTK);
	CONST(EV_SCHED_SWITCH);
	CONST(EV_SCHED_WAKEUP);
	CONST(EV_SCHED_MIGRATE);
	CONST(EV_FORK);
	CONST(EV_EXIT);
	CONST(EV_SIGNAL);
	CONST(EV_CPU_ONLINE);
	CONST(EV_WORKLOAD);
	CONST(WORKLOAD_IDLE);
	CONST(WORKLOAD_DEFAULT);
	CONST(WORKLOAD_CPU_BOUND);
	CONST(WORKLOAD_SYSCALL);
	CONST(WORKLOAD_PROBE);
	CONST(WORKLOAD_NULL_DEREF);
	CONST(WORKLOAD_FORK);

	/* host calls */
	SIZE(host_reply);
	MEMBER(host_reply, kind);
	MEMBER(host_reply, value);
	MEMBER(host_reply, fn);
	MEMBER(host_reply, args);
	CONST(HOSTCALL_VECTOR);
	CONST(HOST_EVENT_VECTOR);
	CONST(HC_RESUME);
	CONST(HC_HOSTD_WORK);
	CONST(HC_WARN);
	CONST(HC_PROC_WRITE);
	CONST(HC_PROC_EXIT);
	CONST(HOST_REPLY_DONE);
	CONST(HOST_REPLY_CALL);

	/*
	 * ftrace (kernel/ftrace.c, arch/ftrace_64.S): the pt_regs slots the trampoline fills, and
	 * the ops the host allocates, fills and links into ftrace_ops_list.
	 */
	DEFINE(PTREGS_r15, offsetof(struct pt_regs, r15));
	DEFINE(PTREGS_r14, offsetof(struct pt_regs, r14));
	DEFINE(PTREGS_r13, offsetof(struct pt_regs, r13));
	DEFINE(PTREGS_r12, offsetof(struct pt_regs, r12));
	DEFINE(PTREGS_bp, offsetof(struct pt_regs, bp));
	DEFINE(PTREGS_bx, offsetof(struct pt_regs, bx));
	DEFINE(PTREGS_r11, offsetof(struct pt_regs, r11));
	DEFINE(PTREGS_r10, offsetof(struct pt_regs, r10));
	DEFINE(PTREGS_r9, offsetof(struct pt_regs, r9));
	DEFINE(PTREGS_r8, offsetof(struct pt_regs, r8));
	DEFINE(PTREGS_ax, offsetof(struct pt_regs, ax));
	DEFINE(PTREGS_cx, offsetof(struct pt_regs, cx));
	DEFINE(PTREGS_dx, offsetof(struct pt_regs, dx));
	DEFINE(PTREGS_si, offsetof(struct pt_regs, si));
	DEFINE(PTREGS_di, offsetof(struct pt_regs, di));
	DEFINE(PTREGS_orig_ax, offsetof(struct pt_regs, orig_ax));
	DEFINE(PTREGS_ip, offsetof(struct pt_regs, ip));
	DEFINE(PTREGS_flags, offsetof(struct pt_regs, flags));
	DEFINE(PTREGS_sp, offsetof(struct pt_regs, sp));
	DEFINE(PTREGS_ss, offsetof(struct pt_regs, ss));
	DEFINE(MCOUNT_INSN_SIZE, MCOUNT_INSN_SIZE);
	SIZE(_ddebug);
	MEMBER(_ddebug, modname);
	MEMBER(_ddebug, function);
	MEMBER(_ddebug, filename);
	MEMBER(_ddebug, format);
	MEMBER(_ddebug, lineno);
	MEMBER(_ddebug, flags);
	SIZE(ftrace_ops);
	MEMBER(ftrace_ops, func);
	MEMBER(ftrace_ops, next);
	MEMBER(ftrace_ops, flags);
	MEMBER(ftrace_ops, ip);
	MEMBER(ftrace_ops, private);
	CONST(FTRACE_OPS_FL_ENABLED);
	CONST(FTRACE_OPS_FL_IPMODIFY);
	CONST(FTRACE_OPS_FL_PERMANENT);
	CONST(MCOUNT_INSN_SIZE);

	/* livepatch (include/lab/livepatch.h): the structures the host reads and fills */
	SIZE(klp_func);
	MEMBER(klp_func, old_name);
	MEMBER(klp_func, new_func);
	MEMBER(klp_func, old_sympos);
	MEMBER(klp_func, old_func);
	MEMBER(klp_func, old_size);
	MEMBER(klp_func, new_size);
	MEMBER(klp_func, stack_node);
	MEMBER(klp_func, nop);
	MEMBER(klp_func, patched);
	MEMBER(klp_func, transition);
	SIZE(klp_object);
	MEMBER(klp_object, name);
	MEMBER(klp_object, funcs);
	MEMBER(klp_object, callbacks);
	MEMBER(klp_object, mod);
	MEMBER(klp_object, patched);
	SIZE(seq_file);
	MEMBER(seq_file, buf);
	MEMBER(seq_file, size);
	MEMBER(seq_file, count);
	MEMBER(kobject, name);
	MEMBER(kobject, entry);
	MEMBER(kobject, children);
	MEMBER(kobject, files);
	MEMBER(sysfs_file, entry);
	MEMBER(sysfs_file, attr);
	MEMBER(attribute, name);
	MEMBER(attribute, mode);
	MEMBER(kobj_attribute, attr);
	MEMBER(kobj_attribute, show);
	MEMBER(kobj_attribute, store);
	CONST(SYSFS_BUF_SIZE);
	SIZE(module);
	MEMBER(module, state);
	MEMBER(module, name);
	MEMBER(module, init);
	MEMBER(module, exit);
	CONST(MODULE_NAME_LEN);
	CONST(MODULE_STATE_LIVE);
	CONST(MODULE_STATE_COMING);
	CONST(MODULE_STATE_GOING);
	CONST(MODULE_STATE_UNFORMED);
	MEMBER(klp_callbacks, pre_patch);
	MEMBER(klp_callbacks, post_patch);
	MEMBER(klp_callbacks, pre_unpatch);
	MEMBER(klp_callbacks, post_unpatch);
	MEMBER(klp_callbacks, post_unpatch_enabled);
	SIZE(klp_state);
	MEMBER(klp_state, id);
	MEMBER(klp_state, version);
	MEMBER(klp_state, data);
	SIZE(klp_patch);
	MEMBER(klp_patch, mod);
	MEMBER(klp_patch, objs);
	MEMBER(klp_patch, states);
	MEMBER(klp_patch, replace);
	MEMBER(klp_patch, enabled);
	MEMBER(klp_patch, forced);
	SIZE(klp_ops);
	MEMBER(klp_ops, func_stack);
	MEMBER(klp_ops, fops);
	CONST(HC_KLP_ENABLE);
	CONST(HC_KLP_TRY_SWITCH);
	CONST(HC_KLP_GET_PREV_STATE);
	MEMBER(pcpu, rcu_qs);

	/* the syscall selftest (test/livepatch/syscall.test.ts) */
	CONST(EV_KLP_SWITCH);
	CONST(WORKLOAD_GETPID);
	CONST(WORKLOAD_FUTEX_SLEEP);
	CONST(WORKLOAD_SIGSUSPEND);
	CONST(SYS_rt_sigsuspend);
	CONST(SIGTERM);
	CONST(SIGINT);
	CONST(SIGHUP);
	CONST(SIGKILL);
	CONST(SIGUSR1);
	CONST(EINTR);

	/* cpu hotplug (kernel/cpu.c) and the quirks (kernel/livepatch.c, src/livepatch/) */
	MEMBER(pcpu, hotplug_state);
	MEMBER(rq, timers);
	MEMBER(rq, push_task);
	MEMBER(timer_list, entry);
	MEMBER(timer_list, cpu);
	CONST(CPU_UP);
	CONST(CPU_DYING);
	CONST(CPU_DEAD);
	CONST(PORT_CPU_STARTUP);
	CONST(EV_CPU_DEAD);

	/* the entry records of a traced session (src/cli/trace.ts) */
	CONST(EV_IRQ_ENTRY);
	CONST(EV_IRQ_EXIT);
	CONST(EV_SYS_ENTER);
	CONST(EV_USER_ENTER);
	CONST(NR_syscalls);
	MEMBER(boot_params, quirks);
	CONST(KLP_QUIRK_FORK_RACE_747F7A29);
	CONST(KLP_QUIRK_IMMEDIATE_D0807DA7);
	CONST(KLP_QUIRK_NO_COND_RESCHED_E3FF7C60);
	CONST(KLP_QUIRK_IDLE_NOT_WOKEN_5DE62EA8);
	CONST(KLP_QUIRK_OFFLINE_IDLE_1DAF08A0);
	CONST(KLP_QUIRK_NO_FAKE_SIGNAL_43347D56);
	CONST(KLP_QUIRK_FORCE_MARKS_ALL_29573083);
	CONST(KLP_QUIRK_FORCED_GLOBAL_68007289);
	CONST(KLP_QUIRK_REPLACED_FREED_EARLY_7E35E4EB);
	CONST(KLP_QUIRK_SIGPENDING_8DF1947C);
	CONST(KLP_QUIRK_RCU_IDLE_842C0884);
}

/* livepatch shadow variables (include/lab/shadow.h): the hash table src/livepatch/shadow.ts reads */
#include <lab/shadow.h>
void shadow_offsets(void);
void shadow_offsets(void)
{
	SIZE(klp_shadow);
	MEMBER(klp_shadow, next);
	MEMBER(klp_shadow, obj);
	MEMBER(klp_shadow, id);
	MEMBER(klp_shadow, size);
	MEMBER(klp_shadow, data);
	CONST(KLP_SHADOW_HASH_BITS);
	/* the multiplier is above 2^53: in two halves, so the layout keeps it exact */
	DEFINE_S("const.KLP_SHADOW_HASH_MUL_HI", KLP_SHADOW_HASH_MUL >> 32);
	DEFINE_S("const.KLP_SHADOW_HASH_MUL_LO", KLP_SHADOW_HASH_MUL & 0xffffffffUL);
}

/* the livepatch benchmark (workloads/klp_bench.c, bench/livepatch.ts) */
#include <lab/klp_bench.h>
void klp_bench_offsets(void);
void klp_bench_offsets(void)
{
	CONST(WORKLOAD_KLP_BENCH);
	CONST(KLP_BENCH_MAX_FUNCS);
	CONST(KLP_BENCH_NEW_TAG);
}

/* RCU-tasks quiescent states a task reports itself (src/ftrace/trampoline.ts) */
void rcu_tasks_offsets(void);
void rcu_tasks_offsets(void)
{
	MEMBER(task_struct, rcu_tasks_qs);
}
