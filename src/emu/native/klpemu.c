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
	uint32_t stop_reason;    /* KLP_STOP_*: budget reached, software interrupt (int n), interrupt window */
	uint32_t intno;          /* vector of the last software interrupt */
	const uint8_t *imap;     /* bit i set = an instruction starts at imap_base + i */
	uint64_t imap_base, imap_size; /* bytes covered */
	/* Interrupt delivery (klp_deliver, klp_run), set by klp_ctl_set_cpu once the cpu is online. */
	uint8_t *ram;            /* guest RAM as the host sees it */
	uint64_t ram_base, ram_size;
	uint64_t idt_base, tss_base;
	uc_context *ring0;       /* the cpu's ring-0 system state */
	uint64_t rip;            /* where klp_run stopped */
	int32_t run_err;         /* uc_err of a failed uc_emu_start (KLP_RUN_ERROR) */
	int32_t deliver_err;     /* KLP_DELIVER_* of a failed delivery (KLP_RUN_DELIVERY) */
	uint8_t soft_vectors[32]; /* bitmap: `int n` vectors klp_run delivers itself */
	uint64_t delivered[256]; /* interrupts delivered, per vector */
	uint32_t pending[8];     /* bitmap: raised interrupt vectors not yet delivered */
	uint32_t halted;         /* in hlt, waiting for an interrupt */
	uint32_t irq_window;     /* IRQ_WINDOW_*: IF may just have become 1 */
	const uint8_t *emap;     /* bit i set = sti, popf or iret ends at imap_base + i */
	uint32_t in_run;         /* in klp_run, the only one to stop for an interrupt window */
	uint32_t pad;
	/* Watched code (klp_ctl_set_watch): entries whose every execution is recorded. */
	const uint8_t *wmap;     /* bit i set = a watched entry at imap_base + i */
	struct klp_watch_ring *wring; /* where the hits go, shared by every vCPU */
	uint64_t curr_at;        /* guest address of this cpu's `current` pointer */
	uint32_t task_off[3];    /* offsets of the three 32-bit task words a hit keeps */
	uint32_t watch_cpu;      /* this vCPU's index, as the hits name it */
	/* A debugger's stops (klp_hook_break, klp_hook_step, klp_hook_watch), all inside klp_run. */
	uint64_t break_at;       /* klp_hook_step stops before the instruction with this count */
	uint64_t resume_at;      /* the count a stop left the cpu at: no hook stops there again */
	uint64_t watch_addr;     /* first watched access since the last stop */
	uint32_t watch_hit;      /* its UC_MEM_* type + 1, 0: none */
	uint32_t cont;           /* the next block start continues a block a stop cut: no checks */
	uint64_t stop_pc;        /* where a hook's uc_emu_stop() left the cpu (see klp_run) */
};

/*
 * One execution of a watched entry: where, by which task (the cpu's `current` then), with the
 * stack pointer as the block began and three words of that task as they were (its patch state,
 * its thread flags, its pid: whatever the host asked for).
 */
struct klp_watch_hit {
	uint64_t addr;
	uint64_t task;
	uint64_t rsp;
	uint32_t word[3];
	uint32_t cpu;
};

/*
 * The hits since the host last read them, in execution order (the vCPUs of a round run one
 * after the other in this thread). When it is full the block hook stops the quantum before the
 * watched block runs (KLP_STOP_WATCH) and the host empties it: no hit is ever dropped.
 */
struct klp_watch_ring {
	uint64_t head;           /* hits written since the host reset it */
	uint64_t cap;            /* slots in hit[] */
	struct klp_watch_hit hit[];
};

#define KLP_STOP_BUDGET 1u
#define KLP_STOP_INTR 2u
#define KLP_STOP_IRQ 4u		/* an interrupt is pending and IF just became 1 */
#define KLP_STOP_WATCH 8u	/* the watch ring is full: the host must read it */
#define KLP_STOP_BREAK 16u	/* a debugger's stop: before the instruction at rip */

/*
 * A cpu takes a pending interrupt at the first instruction boundary where IF is 1, not at the
 * next quantum: a cpu that happens to have IF=0 whenever a quantum starts would otherwise
 * starve. IF becomes 1 only through sti, popf and iret, and each of them ends its translated
 * block, so the block hook learns of it at the next block start: the block just entered ended
 * where one of them ends (emap). After popf and iret the interrupt is taken before the next
 * block; after sti, only once the one instruction of its shadow (a block of its own) ran.
 */
enum {
	IRQ_WINDOW_NONE,
	IRQ_WINDOW_OPEN,	/* check at this block start */
	IRQ_WINDOW_SHADOW,	/* the sti shadow's block starts now: check at the next one */
};

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

static inline int in_ram(const struct klp_cpu_ctl *ctl, uint64_t addr, uint64_t len)
{
	return addr >= ctl->ram_base && addr - ctl->ram_base <= ctl->ram_size &&
	       len <= ctl->ram_size - (addr - ctl->ram_base);
}

static inline uint8_t *ram_at(const struct klp_cpu_ctl *ctl, uint64_t addr)
{
	return ctl->ram + (addr - ctl->ram_base);
}

#define EFLAGS_IF 0x200ull

static inline int any_pending(const struct klp_cpu_ctl *ctl)
{
	uint32_t any = 0;

	for (int w = 0; w < 8; w++)
		any |= ctl->pending[w];
	return any != 0;
}

/* At a block start with irq_window set: must the cpu stop here to take an interrupt? */
static int irq_window_open(uc_engine *uc, struct klp_cpu_ctl *ctl)
{
	uint64_t rflags;

	if (ctl->irq_window == IRQ_WINDOW_SHADOW) {
		ctl->irq_window = IRQ_WINDOW_OPEN;
		return 0;
	}
	ctl->irq_window = IRQ_WINDOW_NONE;
	if (!ctl->in_run || !any_pending(ctl))
		return 0;
	uc_reg_read(uc, UC_X86_REG_RFLAGS, &rflags);
	return (rflags & EFLAGS_IF) != 0;
}

/* Records one execution of a watched entry (the block at address is about to run). */
static void watch_hit(uc_engine *uc, struct klp_cpu_ctl *ctl, uint64_t address)
{
	struct klp_watch_hit *h = &ctl->wring->hit[ctl->wring->head++];
	uint64_t task = 0;

	h->addr = address;
	h->cpu = ctl->watch_cpu;
	h->word[0] = h->word[1] = h->word[2] = 0;
	if (ctl->ram && in_ram(ctl, ctl->curr_at, 8))
		memcpy(&task, ram_at(ctl, ctl->curr_at), 8);
	h->task = task;
	for (int i = 0; i < 3; i++)
		if (task && in_ram(ctl, task + ctl->task_off[i], 4))
			memcpy(&h->word[i], ram_at(ctl, task + ctl->task_off[i]), 4);
	uc_reg_read(uc, UC_X86_REG_RSP, &h->rsp);
}

/*
 * UC_HOOK_BLOCK callback (uc_cb_hookcode_t); user_data is the vCPU's ctl.
 *
 * Measured on 2.0.1: uc_emu_stop() from a block hook stops BEFORE that block
 * runs (RIP is left at its start). So the budget test comes first and a
 * stopped block is not counted; every counted block then really ran, and at
 * a budget stop insns is exact and >= stop_at by less than one block.
 * (A block cut short by a fault or exception is still counted whole.)
 * A watched block (klp_ctl_set_watch) is recorded once it is counted, as it will run;
 * with the ring full the hook stops before it as for the budget.
 */
KLP_EXPORT void klp_hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;
	uint64_t lo = address - ctl->imap_base;
	int watched = 0;

	if (__builtin_expect(ctl->cont, 0)) {
		/*
		 * The rest of a block a debugger's stop cut short: its start was checked when
		 * the block was first entered, checking again would end the quantum or take an
		 * interrupt where the run without the stop did not.
		 */
		ctl->cont = 0;
		goto count;
	}
	if (ctl->insns >= ctl->stop_at) {
		ctl->stop_reason |= KLP_STOP_BUDGET;
		ctl->stop_pc = address;
		uc_emu_stop(uc);
		return;
	}
	if (__builtin_expect(ctl->irq_window != IRQ_WINDOW_NONE, 0) && irq_window_open(uc, ctl)) {
		ctl->stop_reason |= KLP_STOP_IRQ;
		ctl->stop_pc = address;
		uc_emu_stop(uc);
		return;
	}
	if (__builtin_expect(ctl->wmap != NULL, 0) && address >= ctl->imap_base && lo < ctl->imap_size &&
	    (ctl->wmap[lo >> 3] >> (lo & 7) & 1)) {
		if (ctl->wring->head >= ctl->wring->cap) {
			ctl->stop_reason |= KLP_STOP_WATCH;
			ctl->stop_pc = address;
			uc_emu_stop(uc);
			return;
		}
		watched = 1;
	}
	ctl->blocks++;
count:
	if (ctl->imap && address >= ctl->imap_base && lo < ctl->imap_size && size) {
		uint64_t hi = lo + size;

		if (hi > ctl->imap_size)
			hi = ctl->imap_size;
		ctl->insns += imap_count(ctl, lo, hi);
		if (ctl->emap && (ctl->emap[hi >> 3] >> (hi & 7) & 1))
			ctl->irq_window = ctl->ram && in_ram(ctl, address + size - 1, 1) &&
					  *ram_at(ctl, address + size - 1) == 0xfb ?
					  IRQ_WINDOW_SHADOW : IRQ_WINDOW_OPEN;
	} else {
		/* Code we have no map for (or a size-less block): count the
		 * block as one instruction so budgets still make progress. */
		ctl->insns += 1;
		ctl->unmapped++;
	}
	ctl->last_block_end = address + size;
	if (watched)
		watch_hit(uc, ctl, address);
}

/*
 * A debugger's stop before the instruction at address, a perturbation-free one: the block hook
 * counted the whole block at its start, so the instructions from here to its end are taken
 * back (they run, and are counted, when the cpu resumes here), and the resumed block start is
 * not checked again (cont). Measured on 2.0.1: uc_emu_stop() from a code hook stops before the
 * hooked instruction runs.
 */
static void debug_stop(uc_engine *uc, struct klp_cpu_ctl *ctl, uint64_t address)
{
	uint64_t lo = address - ctl->imap_base, hi = ctl->last_block_end - ctl->imap_base;

	if (ctl->imap && address >= ctl->imap_base && lo < hi && hi <= ctl->imap_size)
		ctl->insns -= imap_count(ctl, lo, hi);
	ctl->resume_at = ctl->insns;
	ctl->cont = 1;
	ctl->stop_reason |= KLP_STOP_BREAK;
	ctl->stop_pc = address;
	uc_emu_stop(uc);
}

/* The count of instructions run before the one at address, in the block being run. */
static uint64_t insns_before(const struct klp_cpu_ctl *ctl, uint64_t address)
{
	uint64_t lo = address - ctl->imap_base, hi = ctl->last_block_end - ctl->imap_base;

	if (ctl->imap && address >= ctl->imap_base && lo < hi && hi <= ctl->imap_size)
		return ctl->insns - imap_count(ctl, lo, hi);
	return ctl->insns;
}

/* UC_HOOK_CODE over one breakpoint's address: stop before it (not again where a stop left). */
KLP_EXPORT void klp_hook_break(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;

	(void)size;
	if (ctl->in_run && insns_before(ctl, address) != ctl->resume_at)
		debug_stop(uc, ctl, address);
}

/*
 * UC_HOOK_CODE over all code, while a debugger steps this cpu or watches memory: stop before
 * the instruction whose count is break_at, or before the one after a watched access.
 */
KLP_EXPORT void klp_hook_step(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;
	uint64_t n;

	(void)size;
	if (!ctl->in_run)
		return;
	n = insns_before(ctl, address);
	if (n != ctl->resume_at && (ctl->watch_hit || n == ctl->break_at))
		debug_stop(uc, ctl, address);
}

/* UC_HOOK_MEM_READ / _WRITE over a watched range: klp_hook_step stops after the access. */
KLP_EXPORT void klp_hook_watch(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
			       void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;

	(void)uc;
	(void)size;
	(void)value;
	if (ctl->in_run && !ctl->watch_hit) {
		ctl->watch_hit = type + 1;
		ctl->watch_addr = address;
	}
}

/* UC_HOOK_INTR callback (uc_cb_hookintr_t): end the quantum, let TS deliver it. */
KLP_EXPORT void klp_hook_intr(uc_engine *uc, uint32_t intno, void *user_data)
{
	struct klp_cpu_ctl *ctl = user_data;

	ctl->stop_reason |= KLP_STOP_INTR;
	ctl->intno = intno;
	uc_emu_stop(uc);
}

/*
 * Interrupt delivery, as the CPU does it in 64-bit mode. Unicorn does not deliver interrupts
 * through the IDT itself (it reports `int n` to a hook and cannot raise an external interrupt),
 * so the lab's hardware does: read the gate, pick the stack (TSS.sp0 when the interrupt arrives
 * in user mode), align it to 16 bytes, push ss, rsp, rflags, cs, rip, clear IF for an interrupt
 * gate and jump to the handler.
 *
 * Going from ring 3 to ring 0 needs a privilege change Unicorn's register API refuses (CS and
 * SS cannot be loaded with a more privileged selector), so the ring-0 system state captured when
 * the firmware reported the cpu online (segments, GDT, IDT, TR, GS base, control registers) is
 * restored and the general registers are put back on top of it. The firmware never changes
 * those registers after it comes online.
 */
enum {
	KLP_DELIVER_OK,
	KLP_DELIVER_OFFLINE,	/* no IDT yet: the cpu has not come online */
	KLP_DELIVER_IDT,	/* the gate lies outside RAM */
	KLP_DELIVER_NOT_PRESENT,
	KLP_DELIVER_GATE_TYPE,	/* neither an interrupt nor a trap gate */
	KLP_DELIVER_DPL,	/* int n from a privilege level the gate does not allow (#GP) */
	KLP_DELIVER_TSS,	/* TSS.sp0 outside RAM */
	KLP_DELIVER_STACK,	/* the interrupt frame would lie outside RAM */
};

static const int all_regs[20] = {
	UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX,
	UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP,
	UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
	UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
	UC_X86_REG_RIP, UC_X86_REG_RFLAGS, UC_X86_REG_CS, UC_X86_REG_SS,
};
enum { R_RSP = 7, R_RIP = 16, R_RFLAGS = 17, R_CS = 18, R_SS = 19 };
static const int entry_regs[3] = { UC_X86_REG_RIP, UC_X86_REG_RSP, UC_X86_REG_RFLAGS };

/* TF, NT, RF, VM, AC: cleared on every interrupt entry */
#define EFLAGS_CLEAR_ON_ENTRY (0x100ull | 0x4000ull | 0x10000ull | 0x20000ull | 0x40000ull)

/*
 * Delivers vector now. `soft` is an `int n` instruction: the gate's DPL must allow the current
 * privilege level, and the saved rip is the one after the instruction, where the engine stands.
 * An external interrupt that finds the cpu between `sti` and `hlt` is taken after the hlt, as
 * the one-instruction sti shadow guarantees on real hardware.
 */
KLP_EXPORT int klp_deliver(uc_engine *uc, struct klp_cpu_ctl *ctl, uint32_t vector, int soft)
{
	/*
	 * Zeroed: uc_reg_read_batch writes 2 bytes for cs and ss, and the frame takes all 8 of
	 * their slots. Left as they were, the native stack's bytes (host addresses) went into guest
	 * memory, a run's RAM then depended on the host and no replay could reproduce it.
	 */
	uint64_t v[20] = { 0 }, frame[5], entry[3], gate, target, sp;
	void *p[20];
	uint16_t w[4];
	uint32_t hi;
	int type, dpl, cpl, i;

	if (!ctl->ring0 || !ctl->ram)
		return KLP_DELIVER_OFFLINE;
	gate = ctl->idt_base + (uint64_t)(vector & 0xff) * 16;
	if (!in_ram(ctl, gate, 16))
		return KLP_DELIVER_IDT;
	memcpy(w, ram_at(ctl, gate), 8);
	memcpy(&hi, ram_at(ctl, gate + 8), 4);
	if (!(w[2] & 0x8000))
		return KLP_DELIVER_NOT_PRESENT;
	type = (w[2] >> 8) & 0xf;
	if (type != 0xe && type != 0xf)
		return KLP_DELIVER_GATE_TYPE;
	dpl = (w[2] >> 13) & 3;
	target = w[0] | ((uint64_t)w[3] << 16) | ((uint64_t)hi << 32);

	for (i = 0; i < 20; i++)
		p[i] = &v[i];
	uc_reg_read_batch(uc, (int *)all_regs, p, 20);
	cpl = v[R_CS] & 3;
	if (soft && dpl < cpl)
		return KLP_DELIVER_DPL;

	frame[0] = v[R_RIP];
	if (!soft && in_ram(ctl, frame[0] - 1, 2) && *ram_at(ctl, frame[0]) == 0xf4 &&
	    *ram_at(ctl, frame[0] - 1) == 0xfb)
		frame[0]++;
	frame[1] = v[R_CS];
	frame[2] = v[R_RFLAGS];
	frame[3] = v[R_RSP];
	frame[4] = v[R_SS];
	if (cpl == 3) {
		if (!in_ram(ctl, ctl->tss_base + 4, 8))
			return KLP_DELIVER_TSS;
		memcpy(&sp, ram_at(ctl, ctl->tss_base + 4), 8);
	} else {
		sp = v[R_RSP];
	}
	sp = (sp & ~0xfull) - sizeof(frame);
	if (!in_ram(ctl, sp, sizeof(frame)))
		return KLP_DELIVER_STACK;
	memcpy(ram_at(ctl, sp), frame, sizeof(frame));

	if (cpl == 3) {
		uc_context_restore(uc, ctl->ring0);
		uc_reg_write_batch(uc, (int *)all_regs, p, 16);
	}
	entry[0] = target;
	entry[1] = sp;
	entry[2] = v[R_RFLAGS] & ~EFLAGS_CLEAR_ON_ENTRY;
	if (type == 0xe)
		entry[2] &= ~EFLAGS_IF;
	for (i = 0; i < 3; i++)
		p[i] = &entry[i];
	uc_reg_write_batch(uc, (int *)entry_regs, p, 3);
	ctl->delivered[vector & 0xff]++;
	return KLP_DELIVER_OK;
}

/* Delivers the highest pending vector if IF allows it: 1 delivered, 0 not, < 0 -KLP_DELIVER_*. */
static int deliver_pending(uc_engine *uc, struct klp_cpu_ctl *ctl)
{
	uint64_t rflags;
	int w, v, err;

	for (w = 7; w >= 0 && !ctl->pending[w]; w--)
		;
	if (w < 0)
		return 0;
	uc_reg_read(uc, UC_X86_REG_RFLAGS, &rflags);
	if (!(rflags & EFLAGS_IF))
		return 0;
	v = w * 32 + 31 - __builtin_clz(ctl->pending[w]);
	ctl->pending[w] &= ~(1u << (v & 31));
	err = klp_deliver(uc, ctl, v, 0);
	if (err) {
		ctl->intno = v;
		return -err;
	}
	ctl->halted = 0;
	return 1;
}

enum {
	KLP_RUN_BUDGET = 1,	/* the quantum's instructions ran */
	KLP_RUN_HALT,		/* the cpu sits in hlt (halted set): nothing it may take is pending */
	KLP_RUN_INTR,		/* int n or an exception klp_run does not deliver: vector in intno */
	KLP_RUN_ERROR,		/* uc_emu_start failed: uc_err in run_err */
	KLP_RUN_STOPPED,	/* stopped by a hook (a device asked the machine to stop) */
	KLP_RUN_DELIVERY,	/* delivering an int n failed: KLP_DELIVER_* in deliver_err */
	KLP_RUN_WATCH,		/* the watch ring is full: the host reads it, the quantum goes on */
	KLP_RUN_BREAK,		/* a debugger's stop, before the instruction at rip: call again to go on */
};

/*
 * One quantum of one cpu: deliver the highest pending interrupt IF allows, then run from the
 * current rip until the budget (stop_at) is reached, the cpu halts with nothing to wake it, or
 * something needs the host. A pending interrupt is also taken in hlt and wherever sti, popf or
 * iret open a window for it (KLP_STOP_IRQ). `int n` for the vectors in soft_vectors (the system
 * call gate) is delivered here and the quantum goes on. The host's work per quantum is then one
 * call, however many interrupts and system calls the guest takes.
 */
KLP_EXPORT int klp_run(uc_engine *uc, struct klp_cpu_ctl *ctl)
{
	/* going on after a debugger's stop is going on mid-quantum: nothing is taken here */
	int d = ctl->cont ? 0 : deliver_pending(uc, ctl);

	if (d < 0) {
		ctl->deliver_err = -d;
		return KLP_RUN_DELIVERY;
	}
	if (ctl->halted)
		return KLP_RUN_HALT;
	uc_reg_read(uc, UC_X86_REG_RIP, &ctl->rip);
	for (;;) {
		uc_err err;
		uint32_t v;

		ctl->stop_reason = 0;
		ctl->in_run = 1;
		err = uc_emu_start(uc, ctl->rip, 0, 0, 0);
		ctl->in_run = 0;
		/*
		 * Measured on 2.0.1: once any UC_HOOK_CODE hook exists (a debugger's), a block
		 * hook's uc_emu_stop() leaves RIP at a stale address, not at the block it stopped
		 * before. The hooks know where they stopped: put RIP there.
		 */
		uc_reg_read(uc, UC_X86_REG_RIP, &ctl->rip);
		if (err == UC_ERR_OK && (ctl->stop_reason & (KLP_STOP_BUDGET | KLP_STOP_IRQ | KLP_STOP_BREAK | KLP_STOP_WATCH)) &&
		    ctl->rip != ctl->stop_pc) {
			uc_reg_write(uc, UC_X86_REG_RIP, &ctl->stop_pc);
			ctl->rip = ctl->stop_pc;
		}
		if (err != UC_ERR_OK) {
			ctl->run_err = err;
			return KLP_RUN_ERROR;
		}
		if (ctl->stop_reason & KLP_STOP_BREAK)
			return KLP_RUN_BREAK;
		if (ctl->stop_reason & KLP_STOP_INTR) {
			v = ctl->intno & 0xff;
			if (!(ctl->soft_vectors[v >> 3] & (1u << (v & 7))))
				return KLP_RUN_INTR;
			ctl->deliver_err = klp_deliver(uc, ctl, v, 1);
			if (ctl->deliver_err)
				return KLP_RUN_DELIVERY;
			uc_reg_read(uc, UC_X86_REG_RIP, &ctl->rip);
			if (ctl->insns >= ctl->stop_at)
				return KLP_RUN_BUDGET;
			continue;
		}
		if (ctl->stop_reason & KLP_STOP_IRQ) {
			d = deliver_pending(uc, ctl);
			if (d < 0) {
				ctl->deliver_err = -d;
				return KLP_RUN_DELIVERY;
			}
			uc_reg_read(uc, UC_X86_REG_RIP, &ctl->rip);
			continue;
		}
		if (ctl->stop_reason & KLP_STOP_BUDGET)
			return KLP_RUN_BUDGET;
		if (ctl->stop_reason & KLP_STOP_WATCH)
			return KLP_RUN_WATCH;
		if (ctl->last_block_end == ctl->rip && ctl->ram && in_ram(ctl, ctl->rip - 1, 1) &&
		    *ram_at(ctl, ctl->rip - 1) == 0xf4) {
			ctl->halted = 1;
			d = deliver_pending(uc, ctl);
			if (d < 0) {
				ctl->deliver_err = -d;
				return KLP_RUN_DELIVERY;
			}
			if (!d)
				return KLP_RUN_HALT;
			/*
			 * Woken: the cpu now stands at the handler's first instruction with IF
			 * clear, running, not halted. If the budget is spent the quantum ends as
			 * any other does (HALT here would tell the host a cpu that is in fact
			 * running sat in hlt with interrupts off: a dead cpu).
			 */
			if (ctl->insns >= ctl->stop_at)
				return KLP_RUN_BUDGET;
			uc_reg_read(uc, UC_X86_REG_RIP, &ctl->rip);
			continue;
		}
		return KLP_RUN_STOPPED;
	}
}

/* Everything klp_deliver needs; ram stays owned (and kept alive) by TS. */
KLP_EXPORT void klp_ctl_set_cpu(struct klp_cpu_ctl *ctl, uint8_t *ram, uint64_t ram_base,
				uint64_t ram_size, uc_context *ring0, uint64_t idt_base,
				uint64_t tss_base)
{
	ctl->ram = ram;
	ctl->ram_base = ram_base;
	ctl->ram_size = ram_size;
	ctl->ring0 = ring0;
	ctl->idt_base = idt_base;
	ctl->tss_base = tss_base;
}

/* The hooks as plain pointers for uc_hook_add(): 0 block, 1 intr, 2 break, 3 step, 4 watch. */
KLP_EXPORT void *klp_hook_ptr(int which)
{
	switch (which) {
	case 0: return (void *)klp_hook_block;
	case 1: return (void *)klp_hook_intr;
	case 2: return (void *)klp_hook_break;
	case 3: return (void *)klp_hook_step;
	case 4: return (void *)klp_hook_watch;
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

/*
 * The map of where sti, popf and iret end, over the instruction map's range: imap_size + 1
 * bits (a block may end at the very end of the range). Kept alive by TS like the imap.
 */
KLP_EXPORT void klp_ctl_set_emap(struct klp_cpu_ctl *ctl, const uint8_t *emap)
{
	ctl->emap = emap;
	ctl->irq_window = IRQ_WINDOW_NONE;
}

/*
 * Watched entries: a map over the instruction map's range (NULL: none), the ring the hits go
 * to, where this cpu's `current` lives and which words of the task a hit keeps. TS keeps the
 * map and the ring alive, as it does the instruction map.
 */
KLP_EXPORT void klp_ctl_set_watch(struct klp_cpu_ctl *ctl, const uint8_t *wmap,
				  struct klp_watch_ring *wring, uint64_t curr_at, uint32_t off0,
				  uint32_t off1, uint32_t off2, uint32_t cpu)
{
	ctl->wmap = wring ? wmap : NULL;
	ctl->wring = wring;
	ctl->curr_at = curr_at;
	ctl->task_off[0] = off0;
	ctl->task_off[1] = off1;
	ctl->task_off[2] = off2;
	ctl->watch_cpu = cpu;
}

/*
 * Checkpoints of guest RAM (src/emu/checkpoint.ts): the pages of `ram` that differ from
 * `shadow`, a copy of RAM as it was at the last checkpoint. Unicorn 2.0.1 tracks no dirty pages
 * for memory mapped with uc_mem_map_ptr and the host kernel here has no soft-dirty bits, so the
 * pages are compared: at memory speed, a few ms for 64 MiB, where a loop over pages in
 * JavaScript takes several times that. Writes the indices of the pages that differ to `out`
 * (room for every page) and returns how many; with `update`, also copies them into `shadow`.
 */
KLP_EXPORT uint32_t klp_ram_delta(const uint8_t *ram, uint8_t *shadow, uint64_t size, uint32_t page,
				  uint32_t *out, int update)
{
	uint32_t n = 0;

	for (uint64_t off = 0, i = 0; off < size; off += page, i++) {
		if (!memcmp(ram + off, shadow + off, page))
			continue;
		out[n++] = (uint32_t)i;
		if (update)
			memcpy(shadow + off, ram + off, page);
	}
	return n;
}

/* A uc_context's bytes, to and from a Buffer: a checkpoint outlives the engine that saved it. */
KLP_EXPORT void klp_context_get(uintptr_t context, void *buf, uint64_t size)
{
	memcpy(buf, (const void *)context, size);
}

KLP_EXPORT void klp_context_put(uintptr_t context, const void *buf, uint64_t size)
{
	memcpy((void *)context, buf, size);
}

/* Layout checks for TS. */
KLP_EXPORT uint32_t klp_ctl_size(void)
{
	return sizeof(struct klp_cpu_ctl);
}

KLP_EXPORT uint32_t klp_watch_hit_size(void)
{
	return sizeof(struct klp_watch_hit);
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
		offsetof(struct klp_cpu_ctl, ram),
		offsetof(struct klp_cpu_ctl, ram_base),
		offsetof(struct klp_cpu_ctl, ram_size),
		offsetof(struct klp_cpu_ctl, idt_base),
		offsetof(struct klp_cpu_ctl, tss_base),
		offsetof(struct klp_cpu_ctl, ring0),
		offsetof(struct klp_cpu_ctl, rip),
		offsetof(struct klp_cpu_ctl, run_err),
		offsetof(struct klp_cpu_ctl, deliver_err),
		offsetof(struct klp_cpu_ctl, soft_vectors),
		offsetof(struct klp_cpu_ctl, delivered),
		offsetof(struct klp_cpu_ctl, pending),
		offsetof(struct klp_cpu_ctl, halted),
		offsetof(struct klp_cpu_ctl, irq_window),
		offsetof(struct klp_cpu_ctl, emap),
		offsetof(struct klp_cpu_ctl, in_run),
		offsetof(struct klp_cpu_ctl, wmap),
		offsetof(struct klp_cpu_ctl, wring),
		offsetof(struct klp_cpu_ctl, curr_at),
		offsetof(struct klp_cpu_ctl, task_off),
		offsetof(struct klp_cpu_ctl, watch_cpu),
		offsetof(struct klp_cpu_ctl, break_at),
		offsetof(struct klp_cpu_ctl, resume_at),
		offsetof(struct klp_cpu_ctl, watch_addr),
		offsetof(struct klp_cpu_ctl, watch_hit),
		offsetof(struct klp_cpu_ctl, cont),
		offsetof(struct klp_cpu_ctl, stop_pc),
	};

	if (field < 0 || field >= (int)(sizeof(off) / sizeof(off[0])))
		return -1;
	return off[field];
}
