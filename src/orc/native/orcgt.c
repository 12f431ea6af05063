/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * orcgt: ground truth for the ORC unwinder, taken from the emulator itself. A Unicorn block
 * hook keeps an exact shadow call stack per kernel stack without any unwind information: a
 * block that ended with `call` pushed its return address (the end of the block) into the slot
 * the callee starts with, one that ended with `ret` popped the slot below the sp it left, one
 * that ended with `iretq` popped the interrupt frame of the stack it ran on; a block starting at
 * an interrupt gate records the frame the host's interrupt delivery pushed, and a new task's
 * first block (ret_from_fork) clears what a dead task left on a reused stack. Context switches
 * need no handling: entries are kept per stack (the THREAD_SIZE-aligned block the sp is in), so
 * once __switch_to_asm loads the next task's sp, calls and returns land on that task's stack.
 *
 * Why a block hook and not a code hook: on Unicorn 2.0.1, with any UC_HOOK_CODE installed, a
 * uc_emu_stop() from a block hook (how the machine ends every quantum) stops in the middle of
 * later blocks and the guest goes wrong. Calls, returns and irets end blocks, and the host
 * delivers interrupts only between blocks, so block starts see every event, one block late:
 * the effect of a block's last instruction is applied when the next block starts (or by
 * gt_sync() for a vCPU stopped in between).
 *
 * The same hook stops a vCPU after an exact number of instructions, optionally at the first
 * instruction of a chosen class (fentry site, entry code, prologue, epilogue): it stops before
 * the block that holds that instruction and reports how far into the block to go; the caller
 * finishes with uc_emu_start(block, until = that instruction).
 *
 * The shadow stacks live in memory TS owns and reads without copying.
 */
#include <stdint.h>
#include <string.h>
#include <unicorn/unicorn.h>

#define GT_EXPORT __attribute__((visibility("default")))

/* Effects. cls[] (by instruction start): GATE and RESET act when a block starts there.
 * endcls[] (by instruction end): CALL, RET, IRET act when the block they end has run. */
enum { GT_NONE, GT_CALL, GT_RET, GT_IRET, GT_GATE, GT_RESET };
#define GT_EFFECT 7u
/* Shadow entry kinds. */
enum { GT_ENT_CALL = 1, GT_ENT_IRQ_KERNEL = 2, GT_ENT_IRQ_USER = 3 };

/* Shared by every vCPU of a machine. Layout mirrored in shadow.ts (all 64-bit words). */
struct gt_shared {
	uint8_t *ram;
	uint64_t ram_base, ram_size;
	uint64_t code_base, code_size;
	const uint8_t *cls;	/* per code byte: effect at a block start | class flags */
	const uint8_t *ilen;	/* per code byte: length of the instruction starting there */
	uint64_t stack_shift, nstacks, maxdepth;
	uint32_t *depth;	/* [nstacks] */
	uint32_t *ent;		/* [nstacks][maxdepth][3]: slot, value (RAM offsets), kind */
	uint64_t anomalies;	/* entries dropped because a ret/iret/gate skipped them */
	uint64_t overflows;	/* pushes beyond maxdepth (dropped) */
	uint64_t events;	/* calls, returns, interrupts, irets seen */
	uint64_t last_anomaly;	/* block start at which the last anomaly was found */
	const uint8_t *endcls;	/* per code byte + 1: effect of the instruction ending there */
};

/* One per vCPU (the hook's user_data). Layout mirrored in shadow.ts. */
struct gt_cpu {
	struct gt_shared *g;
	int64_t countdown;	/* < 0: not armed; else instructions left to run */
	uint64_t executed;	/* instructions of whole blocks let run while armed */
	uint64_t stop_mask;	/* once the count is reached, go on to an instruction of these classes */
	int64_t extra;		/* ... for at most this many more instructions */
	uint64_t stopped;	/* the hook stopped the engine before block stop_address */
	uint64_t stop_address;
	uint64_t partial;	/* instructions of that block still to run (with until) */
	uint64_t prev_end;	/* end of the last block that ran, its effect not yet applied */
	uint64_t prev_sp;	/* sp when that block started */
};

static inline int64_t gt_off(const struct gt_shared *g, uint64_t a)
{
	return a - g->ram_base < g->ram_size ? (int64_t)(a - g->ram_base) : -1;
}

static inline uint64_t rd64(const struct gt_shared *g, int64_t off)
{
	uint64_t v;

	memcpy(&v, g->ram + off, 8);
	return v;
}

static inline uint32_t *stack_of(struct gt_shared *g, int64_t off, uint32_t **dp)
{
	uint64_t s = (uint64_t)off >> g->stack_shift;

	*dp = &g->depth[s];
	return &g->ent[s * g->maxdepth * 3];
}

/* Entries below `slot` on this stack are dead: the stack was unwound past them. */
static void drop_below(struct gt_shared *g, uint32_t *e, uint32_t *d, int64_t slot, uint64_t at)
{
	while (*d && (int64_t)e[(*d - 1) * 3] < slot) {
		(*d)--;
		g->anomalies++;
		g->last_anomaly = at;
	}
}

static void push(struct gt_shared *g, int64_t slot, uint32_t value, uint32_t kind)
{
	uint32_t *d, *e = stack_of(g, slot, &d);

	if (*d >= g->maxdepth) {
		g->overflows++;
		return;
	}
	e[*d * 3] = (uint32_t)slot;
	e[*d * 3 + 1] = value;
	e[*d * 3 + 2] = kind;
	(*d)++;
}

static inline int frame_ok(const struct gt_shared *g, int64_t sp)
{
	return sp >= 0 && sp + 40 <= (int64_t)g->ram_size;
}

/* The interrupt frame at sp: record it unless it already is (gt_sync may have). */
static void gate(struct gt_shared *g, int64_t sp, uint64_t at)
{
	uint32_t *d, *e;
	int64_t ip;
	uint64_t cs;

	if (!frame_ok(g, sp))
		return;
	e = stack_of(g, sp, &d);
	if (*d && e[(*d - 1) * 3] == (uint32_t)sp && e[(*d - 1) * 3 + 2] != GT_ENT_CALL)
		return;
	ip = gt_off(g, rd64(g, sp));
	cs = rd64(g, sp + 8);
	if ((cs & 3) == 3)
		*d = 0;	/* from user mode the kernel stack is empty: the rest is a dead task's */
	else
		drop_below(g, e, d, sp, at);
	push(g, sp, ip < 0 ? 0xffffffffu : (uint32_t)ip, (cs & 3) == 3 ? GT_ENT_IRQ_USER : GT_ENT_IRQ_KERNEL);
	g->events++;
}

/*
 * Applies the effect of the last instruction of the block that ended at c->prev_end, given the
 * sp it left (sp_after: for a block interrupted right after, the sp saved in the frame).
 */
static void finish_prev(struct gt_cpu *c, uint64_t sp_after, uint64_t at)
{
	struct gt_shared *g = c->g;
	uint64_t end = c->prev_end - g->code_base;
	uint32_t *d, *e;
	int64_t sp, slot;

	c->prev_end = 0;
	if (end > g->code_size)
		return;
	switch (g->endcls[end]) {
	case GT_CALL:
		/* the return address now sits at the sp the callee starts with */
		sp = gt_off(g, sp_after);
		if (sp < 0)
			return;
		push(g, sp, (uint32_t)(end + (g->code_base - g->ram_base)), GT_ENT_CALL);
		g->events++;
		break;
	case GT_RET:
		slot = gt_off(g, sp_after - 8);
		if (slot < 0)
			return;
		e = stack_of(g, slot, &d);
		drop_below(g, e, d, slot, at);
		if (*d && e[(*d - 1) * 3] == (uint32_t)slot && e[(*d - 1) * 3 + 2] == GT_ENT_CALL)
			(*d)--;
		/* else a return into a frame no call built: a new task's first switch-in */
		g->events++;
		break;
	case GT_IRET:
		/* the frame was on the stack the block ran on, above where it started */
		sp = gt_off(g, c->prev_sp);
		if (sp < 0)
			return;
		e = stack_of(g, sp, &d);
		drop_below(g, e, d, sp, at);
		if (*d && e[(*d - 1) * 3 + 2] != GT_ENT_CALL)
			(*d)--;
		/* else the iret of a frame fork or exec built: nothing was recorded for it */
		g->events++;
		break;
	}
}

/* The sp the previous block left: at a gate, the one the interrupt frame saved. */
static uint64_t sp_after_prev(struct gt_shared *g, uint64_t address, uint64_t rsp)
{
	uint64_t off = address - g->code_base;
	int64_t sp;

	if (off < g->code_size && (g->cls[off] & GT_EFFECT) == GT_GATE) {
		sp = gt_off(g, rsp);
		if (frame_ok(g, sp))
			return rd64(g, sp + 24);
	}
	return rsp;
}

/* Counts instructions into the block, deciding where an armed stop falls: -1 none, else index. */
static int64_t stop_index(struct gt_cpu *c, uint64_t off, uint32_t size)
{
	struct gt_shared *g = c->g;
	uint64_t o, end = off + size;
	int64_t n = 0;

	if (end > g->code_size)
		end = g->code_size;
	for (o = off; o < end; n++) {
		if (c->countdown == 0 && (!c->stop_mask || (g->cls[o] & c->stop_mask) || c->extra <= 0))
			return n;
		if (c->countdown > 0)
			c->countdown--;
		else
			c->extra--;
		if (!g->ilen[o])
			break;
		o += g->ilen[o];
	}
	c->executed += n;
	return -1;
}

/* UC_HOOK_BLOCK over the image's code; user_data is the vCPU's struct gt_cpu. */
GT_EXPORT void gt_hook_block(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct gt_cpu *c = user_data;
	struct gt_shared *g = c->g;
	uint64_t off = address - g->code_base, rsp;
	int64_t sp;

	if (off >= g->code_size)
		return;
	if (c->countdown >= 0) {
		int64_t k = stop_index(c, off, size);

		if (k >= 0) {
			c->stopped = 1;
			c->stop_address = address;
			c->partial = k;
			c->countdown = -1;
			uc_emu_stop(uc);
			return;
		}
	}
	uc_reg_read(uc, UC_X86_REG_RSP, &rsp);
	if ((g->cls[off] & GT_EFFECT) == GT_RESET) {
		/* first, so the switch-in's return finds a clean stack, not a dead task's frames */
		sp = gt_off(g, rsp);
		if (sp >= 0) {
			uint32_t *d;

			stack_of(g, sp, &d);
			*d = 0;
		}
	}
	if (c->prev_end)
		finish_prev(c, sp_after_prev(g, address, rsp), address);
	if ((g->cls[off] & GT_EFFECT) == GT_GATE)
		gate(g, gt_off(g, rsp), address);
	c->prev_end = address + size;
	c->prev_sp = rsp;
}

/*
 * Brings the shadow stacks up to date for a vCPU stopped between blocks: the effect of the
 * last block that ran, and an interrupt frame the host pushed before the gate's first block.
 */
GT_EXPORT void gt_sync(uc_engine *uc, struct gt_cpu *c)
{
	struct gt_shared *g = c->g;
	uint64_t rip, rsp, off;

	uc_reg_read(uc, UC_X86_REG_RIP, &rip);
	uc_reg_read(uc, UC_X86_REG_RSP, &rsp);
	off = rip - g->code_base;
	if (off < g->code_size && (g->cls[off] & GT_EFFECT) == GT_RESET) {
		int64_t sp = gt_off(g, rsp);

		if (sp >= 0) {
			uint32_t *d;

			stack_of(g, sp, &d);
			*d = 0;
		}
	}
	if (c->prev_end)
		finish_prev(c, sp_after_prev(g, rip, rsp), rip);
	if (off < g->code_size && (g->cls[off] & GT_EFFECT) == GT_GATE)
		gate(g, gt_off(g, rsp), rip);
}

GT_EXPORT void gt_init(struct gt_shared *g, uint8_t *ram, const uint8_t *cls, const uint8_t *ilen,
		       const uint8_t *endcls, uint32_t *depth, uint32_t *ent)
{
	g->ram = ram;
	g->cls = cls;
	g->ilen = ilen;
	g->endcls = endcls;
	g->depth = depth;
	g->ent = ent;
}

GT_EXPORT void gt_cpu_init(struct gt_cpu *c, struct gt_shared *g)
{
	c->g = g;
	c->countdown = -1;
}

GT_EXPORT void *gt_hook_ptr(void)
{
	return (void *)gt_hook_block;
}

GT_EXPORT uint32_t gt_sizes(int which)
{
	return which == 0 ? sizeof(struct gt_shared) : sizeof(struct gt_cpu);
}
