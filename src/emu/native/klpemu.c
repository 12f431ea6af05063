/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * klpemu: the hot Unicorn hooks of klp-lab, in C so that no JavaScript runs
 * per translated block. TS registers them with uc_hook_add() through
 * klp_hook_ptr() and talks to them through one struct klp_cpu_ctl per vCPU,
 * which lives in a Buffer that TS owns and reads without copying.
 *
 * Why a block hook and not uc_emu_start(count): count mode installs a
 * per-instruction hook (slow), and the timeout / cross-thread uc_emu_stop
 * ways of ending a quantum corrupt state on 2.0.1. A block hook that sums
 * instruction counts from a precomputed instruction-start bitmap and calls
 * uc_emu_stop() from inside the emulation thread is cheap and deterministic.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unicorn/unicorn.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the imap word loads below assume a little-endian host"
#endif

#define KLP_EXPORT __attribute__((visibility("default")))

/*
 * One per vCPU, allocated by TS (a Buffer), read by TS zero-copy. The
 * layout is an ABI between this file and src/emu/native/index.ts: TS
 * asserts every offset against klp_ctl_offset() when it loads the library.
 */
struct klp_cpu_ctl {
	uint64_t insns;          /* instructions executed, summed per block at block start */
	uint64_t blocks;         /* blocks entered (a block stopped at its start is not) */
	uint64_t stop_at;        /* uc_emu_stop() at the first block start where insns >= stop_at */
	uint64_t unmapped;       /* blocks whose start lies outside the instruction map */
	uint64_t last_block_end; /* address + size of the last block entered */
	uint32_t stop_reason;    /* bit 0 budget reached, bit 1 software interrupt (int n) */
	uint32_t intno;          /* vector of the last software interrupt */
	const uint8_t *imap;     /* bit i set = an instruction starts at imap_base + i */
	uint64_t imap_base, imap_size; /* bytes covered */
};

#define KLP_STOP_BUDGET 1u
#define KLP_STOP_INTR 2u

/* Bytes [8w, 8w + 8) of the bitmap as one word, never reading past its end. */
static inline uint64_t imap_word(const uint8_t *map, uint64_t map_bytes, uint64_t w)
{
	uint64_t v = 0, off = w * 8;

	if (off + 8 <= map_bytes)
		memcpy(&v, map + off, 8);
	else
		memcpy(&v, map + off, map_bytes - off);
	return v;
}

/* Set bits in [lo, hi) of the bitmap; bit i is bit (i & 7) of byte i >> 3. */
static uint64_t imap_count(const struct klp_cpu_ctl *ctl, uint64_t lo, uint64_t hi)
{
	uint64_t map_bytes = (ctl->imap_size + 7) / 8;
	uint64_t w0 = lo >> 6, w1 = (hi - 1) >> 6;
	uint64_t mlo = ~0ull << (lo & 63);
	uint64_t mhi = ~0ull >> (63 - ((hi - 1) & 63));
	uint64_t n;

	if (w0 == w1)
		return __builtin_popcountll(imap_word(ctl->imap, map_bytes, w0) & mlo & mhi);
	n = __builtin_popcountll(imap_word(ctl->imap, map_bytes, w0) & mlo);
	for (uint64_t w = w0 + 1; w < w1; w++)
		n += __builtin_popcountll(imap_word(ctl->imap, map_bytes, w));
	return n + __builtin_popcountll(imap_word(ctl->imap, map_bytes, w1) & mhi);
}

/*
 * UC_HOOK_BLOCK callback (uc_cb_hookcode_t); user_data is the vCPU's ctl.
 *
 * Measured on 2.0.1: uc_emu_stop() from a block hook stops BEFORE that block
 * runs (RIP is left at its start). So the budget test comes first and a
 * stopped block is not counted; every counted block then really ran, and at
 * a budget stop insns is exact and >= stop_at by less than one block.
 * (A block cut short by a fault or exception is still counted whole.)
 */
KLP_EXPORT void klp_hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;
	uint64_t lo = address - ctl->imap_base;

	if (ctl->insns >= ctl->stop_at) {
		ctl->stop_reason |= KLP_STOP_BUDGET;
		uc_emu_stop(uc);
		return;
	}
	ctl->blocks++;
	if (ctl->imap && address >= ctl->imap_base && lo < ctl->imap_size && size) {
		uint64_t hi = lo + size;

		if (hi > ctl->imap_size)
			hi = ctl->imap_size;
		ctl->insns += imap_count(ctl, lo, hi);
	} else {
		/* Code we have no map for (or a size-less block): count the
		 * block as one instruction so budgets still make progress. */
		ctl->insns += 1;
		ctl->unmapped++;
	}
	ctl->last_block_end = address + size;
}

/* UC_HOOK_INTR callback (uc_cb_hookintr_t): end the quantum, let TS deliver it. */
KLP_EXPORT void klp_hook_intr(uc_engine *uc, uint32_t intno, void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;

	ctl->stop_reason |= KLP_STOP_INTR;
	ctl->intno = intno;
	uc_emu_stop(uc);
}

/* The hooks as plain pointers for uc_hook_add(): 0 block, 1 intr. */
KLP_EXPORT void *klp_hook_ptr(int which)
{
	switch (which) {
	case 0: return (void *)klp_hook_block;
	case 1: return (void *)klp_hook_intr;
	default: return NULL;
	}
}

/*
 * Stores the bitmap pointer. TS passes a Buffer it keeps alive for as long
 * as the ctl may be used by a hook; TS cannot compute a Buffer's address
 * itself, which is why this is not a plain field write on the TS side.
 */
KLP_EXPORT void klp_ctl_set_imap(struct klp_cpu_ctl *ctl, const uint8_t *imap, uint64_t base,
				 uint64_t size)
{
	ctl->imap = imap;
	ctl->imap_base = base;
	ctl->imap_size = imap ? size : 0;
}

/* Layout checks for TS. */
KLP_EXPORT uint32_t klp_ctl_size(void)
{
	return sizeof(struct klp_cpu_ctl);
}

KLP_EXPORT int32_t klp_ctl_offset(int field)
{
	static const uint32_t off[] = {
		offsetof(struct klp_cpu_ctl, insns),
		offsetof(struct klp_cpu_ctl, blocks),
		offsetof(struct klp_cpu_ctl, stop_at),
		offsetof(struct klp_cpu_ctl, unmapped),
		offsetof(struct klp_cpu_ctl, last_block_end),
		offsetof(struct klp_cpu_ctl, stop_reason),
		offsetof(struct klp_cpu_ctl, intno),
		offsetof(struct klp_cpu_ctl, imap),
		offsetof(struct klp_cpu_ctl, imap_base),
		offsetof(struct klp_cpu_ctl, imap_size),
	};

	if (field < 0 || field >= (int)(sizeof(off) / sizeof(off[0])))
		return -1;
	return off[field];
}
