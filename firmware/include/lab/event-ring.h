/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing one record of the event ring (struct lab_event_ring in <lab/printk.h>), inline.
 * printk() and lab_event() go through printk.c's emit(); the entry records (an interrupt's
 * entry and exit, a system call's entry, each return to user mode) are written on the hottest
 * paths a cpu has, as often as every system call, so the entry code writes them in place:
 * no call, no text, and no save and restore of the flags, as those paths already run with
 * irqs off. A call to emit() there cost several translated blocks per record.
 */
#ifndef LAB_EVENT_RING_H
#define LAB_EVENT_RING_H
#include <lab/sched.h>
#include <lab/printk.h>

/*
 * Takes the next slot (one atomic add: the ring has no lock) and fills its fixed fields. The
 * slot stays unpublished, its seq 0, until event_publish(): the host's drain stops at such a
 * slot and takes it once it is published. Irqs must be off, so that the task and cpu the
 * record names are the ones writing it.
 */
static __always_inline struct lab_event *event_claim(int type, u64 a, u64 b, u64 c, u64 *seqp)
{
	struct lab_event *ev;
	u64 seq = 1;

	/* xadd: seq is the old head + 1, and head counts every slot taken */
	__asm__ __volatile__("lock; xaddq %0, %1" : "+r"(seq), "+m"(event_ring.head) : : "memory");
	seq++;
	ev = &event_ring.ev[(seq - 1) & (LAB_EVENT_RING - 1)];
	ev->seq = 0;
	ev->ts_ns = pvclock.ns;
	ev->type = type;
	ev->cpu = smp_processor_id();
	ev->pid = current->pid;
	ev->a = a;
	ev->b = b;
	ev->c = c;
	*seqp = seq;
	return ev;
}

/* Makes a claimed record visible: pairs with the host's check of each slot's seq in drain(). */
static __always_inline void event_publish(struct lab_event *ev, u64 seq)
{
	barrier();
	WRITE_ONCE(ev->seq, seq);
}

/* A record without text, from code that runs with irqs off. */
static __always_inline void event_record_irqs_off(int type, u64 a, u64 b, u64 c)
{
	u64 seq;
	struct lab_event *ev = event_claim(type, a, b, c, &seq);

	ev->text[0] = 0;
	event_publish(ev, seq);
}

#endif
