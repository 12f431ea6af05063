// SPDX-License-Identifier: GPL-2.0-or-later
/* test_klp_state2 under another name: two compatible cumulative patches with the same state. */
#include "test_klp_state2.c"
