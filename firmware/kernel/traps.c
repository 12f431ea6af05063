// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Descriptor tables: one GDT with a TSS descriptor per cpu (a TSS is busy once loaded, so cpus
 * cannot share one), one IDT shared by all cpus. The host's interrupt delivery reads both, as
 * the CPU would: the gate for the vector, and TSS.sp0 for interrupts that arrive in user mode.
 */
#include <lab/sched.h>
#include <lab/lib.h>
#include <lab/traps.h>

struct gate_desc {
	u16 offset_low;
	u16 segment;
	u16 bits; /* ist:3, zero:5, type:4, zero:1, dpl:2, p:1 */
	u16 offset_middle;
	u32 offset_high;
	u32 reserved;
} __packed;

#define GATE_INTERRUPT 0xe

u64 gdt_table[GDT_ENTRY_TSS + 2 * NR_CPUS] __aligned(16) = {
	[GDT_ENTRY_KERNEL_CS] = 0x00af9b000000ffffUL, /* 64-bit code, DPL 0 */
	[GDT_ENTRY_KERNEL_DS] = 0x00cf93000000ffffUL, /* data, DPL 0 */
	[GDT_ENTRY_USER_DS] = 0x00cff3000000ffffUL,   /* data, DPL 3 */
	[GDT_ENTRY_USER_CS] = 0x00affb000000ffffUL,   /* 64-bit code, DPL 3 */
};

static struct gate_desc idt_table[NR_VECTORS] __aligned(16);

extern const char irq_entries_start[];
extern const char entry_INT80[];

static void set_gate(int vector, const void *addr, int dpl)
{
	u64 a = (u64)addr;
	struct gate_desc *g = &idt_table[vector];

	g->offset_low = a & 0xffff;
	g->segment = __KERNEL_CS;
	g->bits = (GATE_INTERRUPT << 8) | (dpl << 13) | (1 << 15);
	g->offset_middle = (a >> 16) & 0xffff;
	g->offset_high = a >> 32;
	g->reserved = 0;
}

/* Called once, by cpu 0, before the other cpus are released. */
void trap_init(void)
{
	int v;

	for (v = 0; v < NR_VECTORS; v++)
		set_gate(v, irq_entries_start + 16 * v, 0);
	set_gate(SYSCALL_VECTOR, entry_INT80, 3);
}

/* Per cpu: TSS descriptor, task register, IDT. */
void cpu_init_tables(int cpu)
{
	struct tss_struct *tss = &per_cpu[cpu].tss;
	u64 base = (u64)tss;
	u64 limit = sizeof(*tss) - 1;
	int idx = GDT_ENTRY_TSS + 2 * cpu;
	struct {
		u16 limit;
		u64 base;
	} __packed idtr = {sizeof(idt_table) - 1, (u64)idt_table};

	tss->io_bitmap_base = sizeof(*tss);
	gdt_table[idx] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89UL << 40) |
			 (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt_table[idx + 1] = base >> 32;
	__asm__ __volatile__("ltr %w0" : : "r"(idx * 8));
	__asm__ __volatile__("lidt %0" : : "m"(idtr));
}
