/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unicorn 2.0.1's guest stores, made cheap without changing what they do.
 *
 * Unicorn 2.0.1 keeps no dirty-page bitmap: it takes every RAM page for one
 * that may hold translated code. So every guest store misses the TLB's fast
 * path and goes through notdirty_write(), which looks for translated blocks to
 * drop in the written page. That check is cheap when the page holds none; what
 * is not cheap is the bookkeeping wrapped around it: page_collection_lock()
 * allocates a GTree and a set (and the unlock frees them), only to take page
 * locks that Unicorn compiles out. Measured on the README's livepatch session
 * (1.5 million guest stores), that bookkeeping in malloc, free and GTree calls
 * was some 40% of the session's host time: 350 ms with it, 200 ms without.
 *
 * Unicorn's own later releases drop the bookkeeping: page_collection_lock()
 * returns NULL and the unlock does nothing (unicorn-engine/unicorn#1838), as no
 * caller needs the set but to hand it back. This file does the same to the
 * library as loaded, by pointing the two functions' slots in libunicorn's
 * global offset table (through which the library itself calls them) at the
 * versions below. Translated blocks are still dropped when a store hits them,
 * exactly as before: instruction and block counts of a run are unchanged, only
 * faster.
 *
 * The slots are in RELRO memory (the library is linked with BIND_NOW), so they
 * are made writable for the two stores and read-only again.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KLP_EXPORT __attribute__((visibility("default")))

struct uc_struct;
struct page_collection;

static struct page_collection *no_page_collection_lock(struct uc_struct *uc, uint64_t start,
						       uint64_t end)
{
	(void)uc;
	(void)start;
	(void)end;
	return NULL;
}

static void no_page_collection_unlock(struct page_collection *set)
{
	(void)set;
}

static const struct {
	const char *name;
	void *fn;
} replacements[] = {
	{"page_collection_lock_x86_64", (void *)no_page_collection_lock},
	{"page_collection_unlock_x86_64", (void *)no_page_collection_unlock},
};
#define NR_REPLACEMENTS (sizeof(replacements) / sizeof(replacements[0]))

struct search {
	int found;   /* libunicorn was among the loaded objects */
	int patched; /* slots rewritten (or already pointing at ours) */
	int failed;  /* an mprotect() refused */
};

/* A dynamic entry's address: glibc relocates most of them in place, but not all
 * loaders do. */
static uintptr_t dyn_addr(const struct dl_phdr_info *info, ElfW(Addr) v)
{
	return v < info->dlpi_addr ? info->dlpi_addr + v : v;
}

static void patch_slot(uintptr_t slot, void *fn, struct search *s)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start = slot & ~(uintptr_t)(page - 1);
	size_t len = slot + sizeof(void *) - start;

	if (*(void **)slot == fn) {
		s->patched++;
		return;
	}
	if (mprotect((void *)start, len, PROT_READ | PROT_WRITE)) {
		s->failed++;
		return;
	}
	*(void **)slot = fn;
	/* RELRO memory is read-only once loaded: put it back so */
	mprotect((void *)start, len, PROT_READ);
	s->patched++;
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *data)
{
	struct search *s = data;
	const ElfW(Dyn) *dyn = NULL;
	const ElfW(Rela) *rela = NULL;
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	size_t relsz = 0;

	(void)size;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "libunicorn.so"))
		return 0;
	s->found = 1;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	if (!dyn)
		return 1;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_JMPREL)
			rela = (const ElfW(Rela) *)dyn_addr(info, dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_PLTRELSZ)
			relsz = dyn->d_un.d_val;
		else if (dyn->d_tag == DT_SYMTAB)
			symtab = (const ElfW(Sym) *)dyn_addr(info, dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_STRTAB)
			strtab = (const char *)dyn_addr(info, dyn->d_un.d_ptr);
	}
	if (!rela || !symtab || !strtab)
		return 1;
	for (size_t i = 0; i < relsz / sizeof(*rela); i++) {
		const char *name;

		if (ELF64_R_TYPE(rela[i].r_info) != R_X86_64_JUMP_SLOT)
			continue;
		name = strtab + symtab[ELF64_R_SYM(rela[i].r_info)].st_name;
		for (size_t r = 0; r < NR_REPLACEMENTS; r++)
			if (!strcmp(name, replacements[r].name))
				patch_slot(info->dlpi_addr + rela[i].r_offset, replacements[r].fn,
					   s);
	}
	return 1;
}

/*
 * Points libunicorn's calls of page_collection_lock/unlock at the no-op
 * versions. Returns the number of slots that now do (2 on Unicorn 2.0.1), 0 if
 * the library has no such calls (a release that no longer needs this), or -1 if
 * libunicorn is not loaded or a slot could not be made writable.
 */
KLP_EXPORT int klp_fast_stores(void)
{
	struct search s = {0, 0, 0};

	dl_iterate_phdr(patch_object, &s);
	if (!s.found || s.failed)
		return -1;
	return s.patched;
}
