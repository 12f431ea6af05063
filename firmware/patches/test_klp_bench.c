// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The livepatch benchmark's patch: replaces bench_fn_00 .. bench_fn_<N-1> with versions of the
 * same body that return a different tag. The Makefile builds one module per N
 * (test_klp_bench_N.ko) and hands over the list of functions as KLP_BENCH_FUNCS, X(00) X(01) ...
 */
#include <linux/module.h>
#include <linux/livepatch.h>
#include <lab/klp_bench.h>

#ifndef KLP_BENCH_FUNCS
#error "KLP_BENCH_FUNCS (the functions to replace) comes from the Makefile"
#endif

#define REPLACEMENT(n)                                               \
	static long livepatch_bench_fn_##n(long x)                   \
	{                                                            \
		return klp_bench_body(x, 0x##n + KLP_BENCH_NEW_TAG); \
	}
#define X REPLACEMENT
KLP_BENCH_FUNCS
#undef X

static struct klp_func funcs[] = {
#define X(n) {.old_name = "bench_fn_" #n, .new_func = livepatch_bench_fn_##n},
	KLP_BENCH_FUNCS
#undef X
	{}};

static struct klp_object objs[] = {{.funcs = funcs}, {}};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_bench_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_bench_exit(void)
{
}

module_init(test_klp_bench_init);
module_exit(test_klp_bench_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
