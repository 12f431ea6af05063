/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The emulated platform as the firmware sees it: I/O ports the host listens on, interrupt
 * vectors the host delivers, segment selectors, MSRs. Shared with assembly. The host reads
 * every number it needs from the image's layout section (see asm-offsets.c), never from here.
 */
#ifndef LAB_HW_H
#define LAB_HW_H

/* Host I/O ports (outl %eax, %dx). */
#define PORT_POWEROFF	0x600	/* eax = exit code: the machine stops */
#define PORT_PANIC	0x601	/* eax = low 32 bits of the message address */
#define PORT_IPI	0x602	/* eax = target cpu | vector << 16 */
#define PORT_CPU_ONLINE	0x603	/* eax = cpu: system registers are final from here on */
#define PORT_CPU_DEAD	0x604	/* eax = cpu: this cpu is offline and will only halt */
#define PORT_CPU_STARTUP 0x605	/* eax = cpu: INIT + startup IPI to a cpu that reported itself
				 * dead; it starts over at _start, as at boot */

/* Interrupt vectors. */
#define TIMER_VECTOR		0x20
#define SYSCALL_VECTOR		0x80
#define RESCHEDULE_VECTOR	0xf0
#define CALL_FUNCTION_VECTOR	0xf1
#define HOST_EVENT_VECTOR	0xf2	/* the host queued work for khostd */
#define NR_VECTORS		256

/* GDT layout, the same selectors Linux uses on x86-64. */
#define GDT_ENTRY_KERNEL_CS	2
#define GDT_ENTRY_KERNEL_DS	3
#define GDT_ENTRY_USER_DS	5
#define GDT_ENTRY_USER_CS	6
#define GDT_ENTRY_TSS		8	/* 16 bytes (two slots) per cpu from here */
#define __KERNEL_CS	(GDT_ENTRY_KERNEL_CS * 8)
#define __KERNEL_DS	(GDT_ENTRY_KERNEL_DS * 8)
#define __USER_DS	(GDT_ENTRY_USER_DS * 8 + 3)
#define __USER_CS	(GDT_ENTRY_USER_CS * 8 + 3)

#define MSR_GS_BASE	0xc0000101

#define X86_EFLAGS_IF	0x200
#define X86_EFLAGS_FIXED 0x2

#define NR_CPUS		64
#define THREAD_SIZE	16384
#define USER_STACK_SIZE	16384

#endif
