// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Shadow variables under contention, and misuse of the API. Two kthreads, bound to cpus 1
 * and 2, start together and walk the same keys <&race_objs[i], RACE_ID> calling
 * klp_shadow_get_or_alloc(): when both miss a key, both allocate, and the second look under
 * the lock must leave one variable, constructed once, that both are given. The variables stay
 * until the module goes, so the host can compare its view of the table with what the racers
 * got; the exit frees them with klp_shadow_free_all().
 *
 * What the racers are doing is in plain globals (race_key, race_inside, ...) for the host to
 * sample between quanta: its evidence that they really were in the same call at the same time.
 */
#define pr_fmt(fmt) "test_klp_shadow_race: " fmt
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/livepatch.h>
#include <lab/syscall.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: shadow variables raced on two cpus, and misused");

#define NR_RACERS 2
#define NR_KEYS	  512
#define RACE_ID	  0x5eed
#define FAIL_ID	  0x5eee /* a constructor that fails */
#define GFP_ID	  0x5eef /* allocations with interrupts off */

/* The objects the variables extend: only their addresses matter. */
long race_objs[NR_KEYS];
/* Per racer: the key it is on, whether it is inside klp_shadow_get_or_alloc() for it now. */
long race_key[NR_RACERS];
long race_inside[NR_RACERS];
/* Per racer: its task and pid, the variables its constructor made, what each call returned. */
struct task_struct *race_task[NR_RACERS];
long race_pid[NR_RACERS];
long race_constructed[NR_RACERS];
void *race_got[NR_RACERS][NR_KEYS];
/* Variables the exit's destructor saw. */
long race_freed;

static int race_ready;

/* ctor_data is the racer's number + 1: the variable records who made it. */
static int race_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	long who = (long)ctor_data;

	*(long *)shadow_data = who;
	race_constructed[who - 1]++;
	return 0;
}

static int race_fn(void *arg)
{
	long me = (long)arg;
	int i;

	/* start together: each spins on its own cpu until both are here */
	__atomic_fetch_add(&race_ready, 1, __ATOMIC_SEQ_CST);
	while (READ_ONCE(race_ready) < NR_RACERS)
		cpu_relax();
	for (i = 0; i < NR_KEYS; i++) {
		WRITE_ONCE(race_key[me], i);
		WRITE_ONCE(race_inside[me], 1);
		race_got[me][i] = klp_shadow_get_or_alloc(&race_objs[i], RACE_ID, sizeof(long),
							  GFP_KERNEL, race_ctor, (void *)(me + 1));
		WRITE_ONCE(race_inside[me], 0);
	}
	return 0;
}

static int race(void)
{
	struct task_struct *p[NR_RACERS];
	long made = 0, me;
	int i;

	if (nr_cpu_ids < 1 + NR_RACERS) {
		pr_err("needs cpus 1 to %d, the machine has %u cpus\n", NR_RACERS, nr_cpu_ids);
		return -EINVAL;
	}
	race_ready = 0;
	for (me = 0; me < NR_RACERS; me++) {
		p[me] = kthread_create(race_fn, (void *)me, me ? "shadow_race/1" : "shadow_race/0");
		if (!p[me])
			return -ENOMEM; /* none woken yet: a task never woken never runs */
		kthread_bind(p[me], 1 + me);
		race_task[me] = p[me];
		race_pid[me] = p[me]->pid;
	}
	pr_info("%d racers on cpus 1 and 2, %d keys\n", NR_RACERS, NR_KEYS);
	for (me = 0; me < NR_RACERS; me++)
		wake_up_new_task(p[me]);
	/* gone from the task list: past the last instruction of race_fn() */
	for (me = 0; me < NR_RACERS; me++)
		while (find_task_by_pid(race_pid[me]))
			msleep(1);

	for (me = 0; me < NR_RACERS; me++)
		made += race_constructed[me];
	for (i = 0; i < NR_KEYS; i++) {
		void *sv = race_got[0][i];
		long who = sv ? *(long *)sv : 0;

		if (!sv || race_got[1][i] != sv || klp_shadow_get(&race_objs[i], RACE_ID) != sv ||
		    who < 1 || who > NR_RACERS) {
			pr_err("key %d: racers got %p and %p, the table has %p\n", i, sv,
			       race_got[1][i], klp_shadow_get(&race_objs[i], RACE_ID));
			return -EINVAL;
		}
	}
	if (made != NR_KEYS) {
		pr_err("%ld variables constructed for %d keys\n", made, NR_KEYS);
		return -EINVAL;
	}
	pr_info("every key has one variable, constructed once, the same for both racers\n");
	return 0;
}

static int refuse_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	return -EINVAL;
}

static int misuse(void)
{
	void *first = race_got[0][0], *sv;
	unsigned long flags;

	/* a second variable for an existing key is refused, and the first one is left alone */
	sv = klp_shadow_alloc(&race_objs[0], RACE_ID, sizeof(long), GFP_KERNEL, NULL, NULL);
	if (sv || klp_shadow_get(&race_objs[0], RACE_ID) != first)
		return -EINVAL;
	pr_info("klp_shadow_alloc of an existing variable: NULL, the variable unchanged\n");

	/* a constructor that fails: nothing added */
	sv = klp_shadow_get_or_alloc(&race_objs[0], FAIL_ID, sizeof(long), GFP_KERNEL, refuse_ctor,
				     NULL);
	if (sv || klp_shadow_get(&race_objs[0], FAIL_ID))
		return -EINVAL;
	pr_info("klp_shadow_get_or_alloc with a failing constructor: NULL, nothing added\n");

	/* with interrupts off, GFP_ATOMIC is fine; GFP_KERNEL is a bug the API warns about */
	flags = local_irq_save();
	sv = klp_shadow_alloc(&race_objs[1], GFP_ID, sizeof(long), GFP_ATOMIC, NULL, NULL);
	if (sv && klp_shadow_get_or_alloc(&race_objs[1], GFP_ID, sizeof(long), GFP_KERNEL, NULL,
					  NULL) != sv)
		sv = NULL;
	local_irq_restore(flags);
	klp_shadow_free(&race_objs[1], GFP_ID, NULL);
	if (!sv || klp_shadow_get(&race_objs[1], GFP_ID))
		return -EINVAL;
	pr_info("GFP_ATOMIC and GFP_KERNEL with interrupts off: one warning\n");
	return 0;
}

static int test_klp_shadow_race_init(void)
{
	int err = race();

	if (!err)
		err = misuse();
	if (err) {
		pr_err("failed (%d)\n", err);
		klp_shadow_free_all(RACE_ID, NULL);
	}
	return err;
}

static void race_dtor(void *obj, void *shadow_data)
{
	race_freed++;
}

static void test_klp_shadow_race_exit(void)
{
	klp_shadow_free_all(RACE_ID, race_dtor);
	pr_info("freed %ld variables\n", race_freed);
}

module_init(test_klp_shadow_race_init);
module_exit(test_klp_shadow_race_exit);
