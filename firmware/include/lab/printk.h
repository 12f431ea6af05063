/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * printk and the event ring. Both write fixed-size records into one ring in guest memory that
 * the host drains between quanta, so the host sees one global order of messages and events.
 */
#ifndef LAB_PRINTK_H
#define LAB_PRINTK_H
#include <lab/types.h>
#include <lab/dynamic_debug.h>

#define KERN_SOH	 "\001"
#define KERN_EMERG	 KERN_SOH "0"
#define KERN_ALERT	 KERN_SOH "1"
#define KERN_CRIT	 KERN_SOH "2"
#define KERN_ERR	 KERN_SOH "3"
#define KERN_WARNING	 KERN_SOH "4"
#define KERN_NOTICE	 KERN_SOH "5"
#define KERN_INFO	 KERN_SOH "6"
#define KERN_DEBUG	 KERN_SOH "7"
#define LOGLEVEL_DEFAULT 4

/* A file may define its own prefix before including this, as modules do with KBUILD_MODNAME. */
#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
#define pr_err(fmt, ...)    printk(KERN_ERR pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...)   printk(KERN_WARNING pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...) printk(KERN_NOTICE pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...)   printk(KERN_INFO pr_fmt(fmt), ##__VA_ARGS__)
/* off unless switched on in the dynamic debug control file */
#define pr_debug(fmt, ...) dynamic_pr_debug(pr_fmt(fmt), ##__VA_ARGS__)

/*
 * The console's level (from boot_params): every message is recorded in the ring whatever its
 * level; the host's console shows those below it. 15 shows everything, as the kernel's.
 */
extern int console_loglevel;
#define CONSOLE_LOGLEVEL_MOTORMOUTH 15

/* Event types in the ring (lab_event::type). */
enum lab_event_type {
	EV_PRINTK = 1,	  /* text: the message; a: level */
	EV_SCHED_SWITCH,  /* a: prev pid, b: next pid, c: prev state */
	EV_SCHED_WAKEUP,  /* a: pid, b: target cpu */
	EV_SCHED_MIGRATE, /* a: pid, b: from cpu, c: to cpu */
	EV_FORK,	  /* a: parent pid, b: child pid */
	EV_EXIT,	  /* a: pid, b: wait status (exit status << 8, or the signal) */
	EV_SIGNAL,	  /* a: pid, b: signal, c: 1 delivered to a handler, 0 default action */
	EV_CPU_ONLINE,	  /* a: cpu */
	EV_WORKLOAD,	  /* a: workload-defined code, b, c: values */
	EV_CPU_DEAD,	  /* a: cpu: it parked itself, offline */
	EV_KLP_SWITCH, /* a: pid, b: new patch state, c: the switch point (return address - _stext) */
	/* the entry records, written only while lab_trace_entry is set (below) */
	EV_IRQ_ENTRY,  /* a: vector, b: 1 if it interrupted user mode */
	EV_IRQ_EXIT,   /* a: vector */
	EV_SYS_ENTER,  /* a: system call number */
	EV_USER_ENTER, /* the task leaves for user mode; a: the ip it resumes at - _stext, b: |ax|,
			  c: 1 if ax is negative (after a system call, what it returned) */
};

/*
 * Whether this session is traced: then interrupt entry and exit, system call entry and each
 * return to user mode write a record. They are the most frequent events a cpu has,
 * so an untraced run must not pay for them, not even a test and branch (each would split a
 * translated block on the hottest paths). As the kernel's tracepoints do with static keys,
 * each site is a 5-byte NOP listed in __jump_table; a traced session's host rewrites every
 * listed NOP into a jmp to its site's record before the first instruction runs (and sets
 * lab_trace_entry, for anyone who wants to read it).
 */
extern u32 lab_trace_entry;
static __always_inline bool trace_entry_on(void)
{
	asm goto("1: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t" /* nopl 0(%rax,%rax,1) */
		 ".pushsection __jump_table, \"aw\"\n\t"
		 ".balign 8\n\t"
		 ".long 1b - ., %l[on] - .\n\t"
		 ".quad %c0 - .\n\t"
		 ".popsection"
		 :
		 : "i"(&lab_trace_entry)
		 :
		 : on);
	return false;
on:
	return true;
}

/* a whole printk() line (its buffer is this long): the kernel selftests' lines pass 130 characters */
#define LAB_EVENT_TEXT 256
struct lab_event {
	u64 seq;   /* 1, 2, ...: the host sees gaps if it fell behind */
	u64 ts_ns; /* emulated time from the pvclock */
	u16 type;
	u16 cpu;
	s32 pid; /* current task */
	u64 a, b, c;
	char text[LAB_EVENT_TEXT];
};
#define LAB_EVENT_RING 4096 /* a power of two */

struct lab_event_ring {
	volatile u64 head; /* seqs taken so far: the last one may not be published yet */
	struct lab_event ev[LAB_EVENT_RING];
};

extern struct lab_event_ring event_ring;

/* The host writes the current emulated time here before each quantum (cf. kvmclock). */
struct pvclock {
	volatile u64 ns;
};
extern struct pvclock pvclock;

__printf(1, 2) int printk(const char *fmt, ...);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
__printf(3, 4) int snprintf(char *buf, size_t size, const char *fmt, ...);
__printf(2, 3) int sprintf(char *buf, const char *fmt, ...);
void lab_event(int type, u64 a, u64 b, u64 c);
__noreturn __printf(1, 2) void panic(const char *fmt, ...);
void poweroff(int code);

/*
 * WARN_ON() and friends: the host prints the kernel's report -- "WARNING: CPU: n PID: p at
 * file:line function+off/size", the modules, the task, and the call trace it unwinds with ORC
 * from this cpu's registers -- and the caller goes on. The _ONCE forms report a site only the
 * first time (a flag per call site, in guest memory, as the kernel's .data.once).
 */
void __warn(const char *file, int line, unsigned long ip);
#define _THIS_IP_                        \
	({                               \
		__label__ __here;        \
__here:                                  \
		(unsigned long)&&__here; \
	})
#define __WARN() __warn(__FILE__, __LINE__, _THIS_IP_)

#define WARN_ON(cond)                \
	({                           \
		bool __w = !!(cond); \
		if (unlikely(__w))   \
			__WARN();    \
		__w;                 \
	})
/* WARN_ON() with the caller's own message first, as the kernel's WARN(). */
#define WARN(cond, fmt, ...)                                     \
	({                                                       \
		bool __w = !!(cond);                             \
		if (unlikely(__w)) {                             \
			printk(KERN_WARNING fmt, ##__VA_ARGS__); \
			__WARN();                                \
		}                                                \
		__w;                                             \
	})
#define __WARN_ONCE_FLAG(warn)                                \
	({                                                    \
		static bool __section(".data.once") __warned; \
		bool __w = (warn);                            \
		if (unlikely(__w) && !READ_ONCE(__warned)) {  \
			WRITE_ONCE(__warned, true);           \
			__WARN();                             \
		}                                             \
		__w;                                          \
	})
#define WARN_ON_ONCE(cond) __WARN_ONCE_FLAG(!!(cond))
#define WARN_ONCE(cond, fmt, ...)                                \
	({                                                       \
		static bool __section(".data.once") __warned;    \
		bool __w = !!(cond);                             \
		if (unlikely(__w) && !READ_ONCE(__warned)) {     \
			WRITE_ONCE(__warned, true);              \
			printk(KERN_WARNING fmt, ##__VA_ARGS__); \
			__WARN();                                \
		}                                                \
		__w;                                             \
	})
#define BUG_ON(cond)                                                          \
	do {                                                                  \
		if (unlikely(cond))                                           \
			panic("BUG at %s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#endif
