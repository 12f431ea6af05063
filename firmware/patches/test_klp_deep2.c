// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A second patch of deep_c, stacked on test_klp_deep: its transition must wait for the tasks
 * sleeping in test_klp_deep's deep_c (the code they would stop running), not for those still
 * in the original one (842c0884's rule for stacked patches). It counts in deep_stats[6].
 */
#define DEEP_STAT 6
#include "test_klp_deep.c"
