// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bad input: a livepatch module that does not say MODULE_INFO(livepatch, "Y"), for a function
 * that exists: klp_enable_patch() refuses it all the same.
 */
#define BAD_OLD_NAME "cmdline_proc_show"
#define BAD_UNMARKED
#include "test_klp_bad_unknown.c"
