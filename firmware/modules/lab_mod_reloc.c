// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A module whose relocations cover every type the loader applies to compiled code: calls to a
 * static function of the image (R_X86_64_PLT32 against printk.c's emit), RIP-relative loads of
 * an image global (R_X86_64_PC32 against jiffies), absolute addresses in immediates and indexed
 * loads (R_X86_64_32S, -mcmodel=kernel), pointer tables (R_X86_64_64 against the module's own
 * code, an image static and an image global).
 */
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/sched.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: every relocation type of compiled code");

/* Static functions of the image (kernel/printk.c, kernel/time.c): declared, not defined. */
void emit(int type, u64 a, u64 b, u64 c, const char *text, size_t len);
void process_timeout(void *data);

static noinline long op_add(long a, long b)
{
	return a + b;
}
static noinline long op_sub(long a, long b)
{
	return a - b;
}
static noinline long op_mul(long a, long b)
{
	return a * b;
}
static noinline long op_xor(long a, long b)
{
	return a ^ b;
}

/* .rodata: R_X86_64_64 against the module's own text sections. */
static long (*const lab_reloc_ops[4])(long, long) = {op_add, op_sub, op_mul, op_xor};

/* .data: R_X86_64_64 against an image static function, an image global and a module function. */
void *lab_reloc_targets[3] = {(void *)emit, (void *)&jiffies, (void *)op_add};
EXPORT_SYMBOL(lab_reloc_targets);

static long lab_reloc_scale = 3;

/* what the tests call by name */
long lab_reloc_apply(long op, long a, long b);
long lab_reloc_emit(long n);
unsigned long lab_reloc_jiffies_addr(void);
unsigned long lab_reloc_jiffies(void);
unsigned long lab_reloc_static_addr(void);

/* ops[op & 3] is an indexed load from .rodata: R_X86_64_32S; the call through it is indirect. */
noinline long lab_reloc_apply(long op, long a, long b)
{
	return lab_reloc_ops[op & 3](a, b) * lab_reloc_scale;
}

/* Calls the image's static emit() directly (R_X86_64_PLT32): a printk line without printk. */
noinline long lab_reloc_emit(long n)
{
	static const char text[] = "lab_reloc: emitted through a static function";

	emit(EV_PRINTK, 6, n, 0, text, sizeof(text) - 1);
	return n + 1;
}

/* &jiffies as an immediate (R_X86_64_32S against an image global). */
noinline unsigned long lab_reloc_jiffies_addr(void)
{
	return (unsigned long)&jiffies;
}

/* jiffies itself: a RIP-relative load (R_X86_64_PC32). */
noinline unsigned long lab_reloc_jiffies(void)
{
	return jiffies;
}

/* The address of an image static as an immediate (R_X86_64_32S against process_timeout). */
noinline unsigned long lab_reloc_static_addr(void)
{
	return (unsigned long)process_timeout;
}

static int reloc_init(void)
{
	printk(KERN_INFO "lab_reloc: loaded, 6*7=%ld\n",
	       lab_reloc_apply(2, 6, 7) / lab_reloc_scale);
	return 0;
}

module_init(reloc_init);
