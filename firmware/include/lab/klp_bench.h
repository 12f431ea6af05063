/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The livepatch benchmark's functions (workloads/klp_bench.c in the image, patches/
 * test_klp_bench.c for the replacements). Original and replacement share one body, so a patched
 * call costs what livepatch adds to it and nothing else; they differ in the tag they return,
 * which tells the host which version ran.
 */
#ifndef LAB_KLP_BENCH_H
#define LAB_KLP_BENCH_H
#include <lab/sched.h>

/* The image's patchable bench functions: bench_fn_00 .. bench_fn_63. */
#define KLP_BENCH_MAX_FUNCS 64
#define KLP_BENCH_ALL_FUNCS(X)								\
	X(00) X(01) X(02) X(03) X(04) X(05) X(06) X(07) X(08) X(09) X(10) X(11) X(12)	\
	X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25)	\
	X(26) X(27) X(28) X(29) X(30) X(31) X(32) X(33) X(34) X(35) X(36) X(37) X(38)	\
	X(39) X(40) X(41) X(42) X(43) X(44) X(45) X(46) X(47) X(48) X(49) X(50) X(51)	\
	X(52) X(53) X(54) X(55) X(56) X(57) X(58) X(59) X(60) X(61) X(62) X(63)

/* Added to the tag of a replacement: its result says it ran. */
#define KLP_BENCH_NEW_TAG 0x1000

/*
 * x >= 0: a few instructions of arithmetic, the call the benchmark counts. x < 0: sleep -x ms
 * inside the function, which is how the kbhold threads keep a transition from completing.
 */
static __always_inline long klp_bench_body(long x, long tag)
{
	if (unlikely(x < 0)) {
		msleep(-x);
		return tag;
	}
	return x * 3 + tag;
}

#endif
