// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel selftests' shadow variable module (test-shadow-vars.sh), for the lab: its init
 * gives three objects two shadow variables each -- one pointing at a char, one at an int --
 * finds them again, frees the first kind one by one and the second with klp_shadow_free_all(),
 * and logs every call. The selftest compares the log line for line, so pointers are never
 * printed as addresses: each is named PTR<n> in the order it first shows up, NULL being PTR0.
 */
#define pr_fmt(fmt) "test_klp_shadow_vars: " fmt
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/livepatch.h>
#include <lab/syscall.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: shadow variables");

#define NR_OBJS 3
#define ID_CHAR 0x1234 /* shadow variables holding a char * */
#define ID_INT	0x1235 /* shadow variables holding an int * */

/*
 * Pointer names. A fixed table rather than anything allocated, so naming a pointer cannot
 * disturb the allocator (nor use the shadow variables under test).
 */
static const void *names[32];
static int nr_names;

static int ptr_name(const void *ptr)
{
	int i;

	for (i = 0; i < nr_names; i++)
		if (names[i] == ptr)
			return i;
	if (nr_names == ARRAY_SIZE(names))
		return -ENOMEM;
	names[nr_names] = ptr;
	return nr_names++;
}

/* The constructor copies the pointer ctor_data points at into the new variable. */
static int shadow_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	void **var = shadow_data, **src = ctor_data;

	if (!src)
		return -EINVAL;
	*var = *src;
	pr_info("%s: PTR%d -> PTR%d\n", __func__, ptr_name(var), ptr_name(*var));
	return 0;
}

static void shadow_dtor(void *obj, void *shadow_data)
{
	pr_info("%s(obj=PTR%d, shadow_data=PTR%d)\n", __func__, ptr_name(obj),
		ptr_name(shadow_data));
}

/* Each API call with its arguments and result in the log; names assigned left to right. */
static void **logged_get(void *obj, unsigned long id)
{
	void **sv = klp_shadow_get(obj, id);
	int o = ptr_name(obj);

	pr_info("klp_shadow_get(obj=PTR%d, id=0x%lx) = PTR%d\n", o, id, ptr_name(sv));
	return sv;
}

static void **logged_alloc(bool or_get, void *obj, unsigned long id, void **ctor_data)
{
	const size_t size = sizeof(void *);
	const gfp_t gfp = GFP_KERNEL;
	void **sv;
	int o, c, d;

	if (or_get)
		sv = klp_shadow_get_or_alloc(obj, id, size, gfp, shadow_ctor, ctor_data);
	else
		sv = klp_shadow_alloc(obj, id, size, gfp, shadow_ctor, ctor_data);
	o = ptr_name(obj);
	c = ptr_name(shadow_ctor);
	d = ptr_name(*ctor_data);
	/* %pGg: the flags by name, as the kernel prints them */
	pr_info("klp_%s(obj=PTR%d, id=0x%lx, size=%zx, gfp_flags=%pGg), ctor=PTR%d, "
		"ctor_data=PTR%d "
		"= PTR%d\n",
		or_get ? "shadow_get_or_alloc" : "shadow_alloc", o, id, size, &gfp, c, d,
		ptr_name(sv));
	return sv;
}

static void logged_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor)
{
	int o;

	klp_shadow_free(obj, id, dtor);
	o = ptr_name(obj);
	pr_info("klp_shadow_free(obj=PTR%d, id=0x%lx, dtor=PTR%d)\n", o, id, ptr_name(dtor));
}

static void logged_free_all(unsigned long id, klp_shadow_dtor_t dtor)
{
	klp_shadow_free_all(id, dtor);
	pr_info("klp_shadow_free_all(id=0x%lx, dtor=PTR%d)\n", id, ptr_name(dtor));
}

/* A lookup found sv: it must be the variable we allocated, still pointing where it did. */
static int check_found(void **sv, void **want, void *target)
{
	int s;

	if (!sv)
		return -EINVAL;
	if (sv != want || *sv != target) {
		pr_err("  unexpected PTR%d, wanted PTR%d -> PTR%d\n", ptr_name(sv), ptr_name(want),
		       ptr_name(target));
		return -EINVAL;
	}
	s = ptr_name(sv);
	pr_info("  got expected PTR%d -> PTR%d result\n", s, ptr_name(*sv));
	return 0;
}

static int check_gone(void **sv)
{
	if (sv) {
		pr_err("  unexpected PTR%d, wanted NULL\n", ptr_name(sv));
		return -EINVAL;
	}
	pr_info("  got expected NULL result\n");
	return 0;
}

/* An object of some kind a patch wants to extend; only its address matters here. */
struct victim {
	long payload;
};

/* What one victim's two shadow variables should hold, and the variables once allocated. */
struct victim_fields {
	char c;
	int n;
	char *pc;
	int *pn;
	void **sv_char;
	void **sv_int;
};

static int exercise(struct victim *objs, struct victim_fields *f)
{
	void *dup;
	int i, err;

	/* nothing allocated yet */
	err = check_gone(logged_get(&objs[0], ID_CHAR));
	if (err)
		return err;

	/* both kinds for every object; the char kind alternately by each allocator */
	for (i = 0; i < NR_OBJS; i++) {
		f[i].pc = &f[i].c;
		ptr_name(f[i].pc);
		f[i].sv_char = logged_alloc(!(i & 1), &objs[i], ID_CHAR, (void **)&f[i].pc);
		if (!f[i].sv_char)
			return -ENOMEM;
		f[i].pn = &f[i].n;
		ptr_name(f[i].pn);
		f[i].sv_int = logged_alloc(false, &objs[i], ID_INT, (void **)&f[i].pn);
		if (!f[i].sv_int)
			return -ENOMEM;
	}

	/* every one can be found, and holds what its constructor copied */
	for (i = 0; i < NR_OBJS; i++) {
		err = check_found(logged_get(&objs[i], ID_CHAR), f[i].sv_char, f[i].pc);
		if (!err)
			err = check_found(logged_get(&objs[i], ID_INT), f[i].sv_int, f[i].pn);
		if (err)
			return err;
	}

	/* get_or_alloc of an existing one returns it and does not construct again */
	for (i = 0; i < NR_OBJS; i++) {
		dup = &f[i].c;
		ptr_name(dup);
		err = check_found(logged_alloc(true, &objs[i], ID_CHAR, &dup), f[i].sv_char,
				  f[i].pc);
		if (err)
			return err;
	}

	/* freeing one kind, one by one, with a destructor */
	for (i = 0; i < NR_OBJS; i++) {
		logged_free(&objs[i], ID_CHAR, shadow_dtor);
		err = check_gone(logged_get(&objs[i], ID_CHAR));
		if (err)
			return err;
	}

	/* leaves the other kind alone */
	for (i = 0; i < NR_OBJS; i++) {
		err = check_found(logged_get(&objs[i], ID_INT), f[i].sv_int, f[i].pn);
		if (err)
			return err;
	}

	/* which goes all at once; no destructor, as the order over objects is not defined */
	logged_free_all(ID_INT, NULL);
	for (i = 0; i < NR_OBJS; i++) {
		err = check_gone(logged_get(&objs[i], ID_INT));
		if (err)
			return err;
	}
	return 0;
}

static int test_klp_shadow_vars_init(void)
{
	struct victim objs[NR_OBJS];
	struct victim_fields f[NR_OBJS];
	int err;

	nr_names = 0;
	ptr_name(NULL);
	err = exercise(objs, f);
	if (err) {
		/* the objects are on this stack: nothing may outlive the init */
		klp_shadow_free_all(ID_CHAR, NULL);
		klp_shadow_free_all(ID_INT, NULL);
	}
	return err;
}

static void test_klp_shadow_vars_exit(void)
{
}

module_init(test_klp_shadow_vars_init);
module_exit(test_klp_shadow_vars_exit);
