// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The lab has no cpuidle driver: its idle loop always halts. It still asks, as the kernel's
 * cpuidle_idle_call() did when 842c0884 ("livepatch: Fix stacking of patches with respect to
 * RCU") was written, inside RCU's extended quiescent state: a traceable function of the idle
 * path that runs every time a cpu goes idle, where a live patch of it meets an RCU that is not
 * watching (test_klp_idle patches it).
 */
#include <lab/sched.h>

bool cpuidle_not_available(void)
{
	return true;
}
