// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * printk, events, panic and power-off. Records go into event_ring, which the host drains
 * between quanta. The ring is one global order without a lock: a writer takes the next seq with
 * one atomic add, fills that slot with irqs off and publishes it by the final store of its seq.
 * A lock would be held across the end of a quantum now and then, and every other vCPU wanting
 * to log would spin through its whole quantum (lock-holder preemption, as under a
 * hypervisor): with a record per interrupt and system call, that cost more than the records.
 * So the host may find a slot taken and not yet published (its writer stopped mid-record): it
 * drains up to it and takes it, and what follows, once published.
 */
#include <lab/sched.h>
#include <lab/printk.h>
#include <lab/event-ring.h>
#include <lab/lib.h>

struct lab_event_ring event_ring;
int console_loglevel = 7;
struct pvclock pvclock;
u32 lab_trace_entry;

static void emit(int type, u64 a, u64 b, u64 c, const char *text, size_t len)
{
	unsigned long flags = local_irq_save();
	u64 seq;
	struct lab_event *ev = event_claim(type, a, b, c, &seq);

	if (len >= LAB_EVENT_TEXT)
		len = LAB_EVENT_TEXT - 1;
	memcpy(ev->text, text, len);
	ev->text[len] = 0;
	event_publish(ev, seq);
	local_irq_restore(flags);
}

void lab_event(int type, u64 a, u64 b, u64 c)
{
	emit(type, a, b, c, "", 0);
}

/* One record per line; a leading KERN_<LEVEL> marker sets the level. */
int printk(const char *fmt, ...)
{
	char buf[LAB_EVENT_TEXT];
	va_list ap;
	int level = LOGLEVEL_DEFAULT, n;
	const char *s = buf, *nl;

	if (fmt[0] == KERN_SOH[0] && fmt[1] >= '0' && fmt[1] <= '7') {
		level = fmt[1] - '0';
		fmt += 2;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	while (*s) {
		nl = s;
		while (*nl && *nl != '\n')
			nl++;
		emit(EV_PRINTK, level, 0, 0, s, nl - s);
		s = *nl ? nl + 1 : nl;
	}
	return n;
}

/*
 * A pr_debug() whose descriptor is on: the prefix its m, f, l and t flags ask for, then the
 * message, at KERN_DEBUG.
 */
void __dynamic_pr_debug(struct _ddebug *d, const char *fmt, ...)
{
	char buf[LAB_EVENT_TEXT];
	unsigned int flags = READ_ONCE(d->flags);
	size_t n = 0;
	va_list ap;

	if (flags & _DPRINTK_FLAGS_INCL_TID)
		n += snprintf(buf + n, sizeof(buf) - n, "[%d] ", current->pid);
	if (flags & _DPRINTK_FLAGS_INCL_MODNAME)
		n += snprintf(buf + n, sizeof(buf) - n, "%s:", d->modname);
	if (flags & _DPRINTK_FLAGS_INCL_FUNCNAME)
		n += snprintf(buf + n, sizeof(buf) - n, "%s:", d->function);
	if (flags & _DPRINTK_FLAGS_INCL_LINENO)
		n += snprintf(buf + n, sizeof(buf) - n, "%u:", d->lineno);
	if (n && buf[n - 1] != ' ' && n < sizeof(buf) - 1)
		buf[n++] = ' ';
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	printk(KERN_DEBUG "%s", buf);
}

void poweroff(int code)
{
	outl(code, PORT_POWEROFF);
	local_irq_disable();
	for (;;)
		__asm__ __volatile__("hlt");
}

void panic(const char *fmt, ...)
{
	static char buf[LAB_EVENT_TEXT];
	va_list ap;

	local_irq_disable();
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printk(KERN_EMERG "Kernel panic - not syncing: %s\n", buf);
	outl((u32)(u64)buf, PORT_PANIC);
	for (;;)
		__asm__ __volatile__("hlt");
}
