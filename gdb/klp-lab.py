# SPDX-License-Identifier: GPL-2.0-or-later
#
# gdb helper for klp-lab's GDB stub (`klp-lab boot|livepatch --gdb PORT`). Load it with
#     gdb -x gdb/klp-lab.py
# It adds:
#   klp-lab-connect [HOST:]PORT  file the lab's image, target remote, load every module's symbols
#   klp-lab-symbols              (re)load the symbols of every loaded module at its load address,
#                                as the kernel's lx-symbols does: add-symbol-file with each
#                                placed section's address, from `monitor modules`
# and an unwinder that follows the image's and the modules' ORC tables in guest memory (the
# image has no DWARF: gdb's prologue analysis alone loses the chain after one or two frames).

import gdb
from gdb.unwinder import Unwinder, register_unwinder

# ORC registers and types (arch/x86/include/asm/orc_types.h)
REG_UNDEFINED, REG_PREV_SP, REG_DX, REG_DI, REG_BP, REG_SP = 0, 1, 2, 3, 4, 5
KIND_CALL, KIND_REGS, KIND_PARTIAL, KIND_END, KIND_UNDEFINED = "call", "regs", "partial", "end", "undefined"
# struct pt_regs offsets
PT_BP, PT_IP, PT_CS, PT_SP = 32, 128, 136, 152


def _monitor(cmd):
    return gdb.execute("monitor " + cmd, to_string=True)


class OrcTables:
    """The ORC tables of the image and of each module, read from guest memory once per stop."""

    def __init__(self):
        self.tables = None

    def invalidate(self, *_):
        self.tables = None

    def load(self):
        tables = []
        inf = gdb.selected_inferior()
        for line in _monitor("orc").splitlines():
            f = line.split("\t")
            if len(f) != 6:
                continue
            _name, layout, ip_at, ip_size, u_at, u_size = f
            ip_at, ip_size, u_at, u_size = (int(x, 16) for x in (ip_at, ip_size, u_at, u_size))
            ips = bytes(inf.read_memory(ip_at, ip_size))
            ents = bytes(inf.read_memory(u_at, u_size))
            n = ip_size // 4
            addrs = [ip_at + 4 * i + int.from_bytes(ips[4 * i : 4 * i + 4], "little", signed=True) for i in range(n)]
            tables.append((min(addrs), max(addrs), addrs, ents, layout))
        self.tables = tables

    def find(self, pc):
        if self.tables is None:
            self.load()
        for lo, hi, addrs, ents, layout in self.tables:
            if pc < lo or pc > hi + 0x10000:
                continue
            # the last entry at or below pc
            a, b = 0, len(addrs)
            while b - a > 1:
                mid = (a + b) // 2
                if addrs[mid] <= pc:
                    a = mid
                else:
                    b = mid
            if addrs[a] > pc:
                return None
            e = ents[6 * a : 6 * a + 6]
            sp_off = int.from_bytes(e[0:2], "little", signed=True)
            bp_off = int.from_bytes(e[2:4], "little", signed=True)
            bits = int.from_bytes(e[4:6], "little")
            sp_reg, bp_reg = bits & 0xF, (bits >> 4) & 0xF
            if layout == "6.1":
                t, end = (bits >> 8) & 3, (bits >> 10) & 1
                if sp_reg == REG_UNDEFINED:
                    kind = KIND_END if end else KIND_UNDEFINED
                else:
                    kind = {0: KIND_CALL, 1: KIND_REGS, 2: KIND_PARTIAL}.get(t, KIND_UNDEFINED)
            else:
                t = (bits >> 8) & 7
                kind = {0: KIND_UNDEFINED, 1: KIND_END, 2: KIND_CALL, 3: KIND_REGS, 4: KIND_PARTIAL}.get(t, KIND_UNDEFINED)
                if sp_reg == REG_UNDEFINED and kind not in (KIND_END,):
                    kind = KIND_UNDEFINED
            return kind, sp_reg, sp_off, bp_reg, bp_off
        return None


TABLES = OrcTables()
gdb.events.stop.connect(TABLES.invalidate)
gdb.events.new_objfile.connect(TABLES.invalidate)


class FrameId:
    """What gdb identifies an unwound frame by: its CFA and the pc it was unwound at."""

    def __init__(self, sp, pc):
        # gdb 13 takes gdb.Values here, not Python ints
        self.sp = gdb.Value(sp)
        self.pc = gdb.Value(pc)


def _u64(addr):
    return int.from_bytes(bytes(gdb.selected_inferior().read_memory(addr, 8)), "little")


class KlpOrcUnwinder(Unwinder):
    """Unwinds one frame by the ORC entry of its pc, as the kernel's unwind_next_frame() does."""

    def __init__(self):
        super().__init__("klp-lab-orc")
        # frames whose pc is exact (an interrupted ip), not a return address: by (pc, sp)
        self.exact = set()

    def __call__(self, pf):
        try:
            pc = int(pf.read_register("rip"))
            sp = int(pf.read_register("rsp"))
            bp = int(pf.read_register("rbp"))
        except gdb.error:
            return None
        if pc < 0xFFFF800000000000:
            return None  # user mode: not ours
        exact = pf.level() == 0 or (pc, sp) in self.exact
        orc = TABLES.find(pc if exact else pc - 1)
        if orc is None:
            return None
        kind, sp_reg, sp_off, bp_reg, bp_off = orc
        if kind in (KIND_END, KIND_UNDEFINED):
            return None
        if sp_reg == REG_SP:
            cfa = sp + sp_off
        elif sp_reg == REG_BP:
            cfa = bp + sp_off
        else:
            return None
        try:
            if kind == KIND_CALL:
                new_pc, new_sp = _u64(cfa - 8), cfa
                if bp_reg == REG_PREV_SP:
                    new_bp = _u64(cfa + bp_off)
                elif bp_reg == REG_BP:
                    new_bp = _u64(bp + bp_off)
                else:
                    new_bp = bp
            elif kind == KIND_REGS:
                if _u64(cfa + PT_CS) & 3:
                    return None  # from user mode: the kernel stack ends here
                new_pc, new_sp, new_bp = _u64(cfa + PT_IP), _u64(cfa + PT_SP), _u64(cfa + PT_BP)
                self.exact.add((new_pc, new_sp))
            else:  # an iret frame at cfa
                if _u64(cfa + 8) & 3:
                    return None
                new_pc, new_sp, new_bp = _u64(cfa), _u64(cfa + 24), bp
                self.exact.add((new_pc, new_sp))
        except gdb.MemoryError:
            return None
        if new_pc == 0 or new_sp <= sp:
            return None
        ui = pf.create_unwind_info(FrameId(cfa, pc))
        ulong = gdb.lookup_type("unsigned long")
        ui.add_saved_register("rip", gdb.Value(new_pc).cast(ulong))
        ui.add_saved_register("rsp", gdb.Value(new_sp).cast(ulong))
        ui.add_saved_register("rbp", gdb.Value(new_bp).cast(ulong))
        return ui


register_unwinder(None, KlpOrcUnwinder(), replace=True)


class KlpSymbols(gdb.Command):
    """Load the symbols of every module the lab has loaded, at its load address (as lx-symbols)."""

    def __init__(self):
        super().__init__("klp-lab-symbols", gdb.COMMAND_FILES)
        self.loaded = {}  # file -> .text address

    def invoke(self, arg, from_tty):
        if gdb.current_progspace().filename is None:
            gdb.execute("file " + _monitor("image").strip(), to_string=True)
        for path, text in list(self.loaded.items()):
            gdb.execute("remove-symbol-file -a 0x%x" % text, to_string=True)
            del self.loaded[path]
        for line in _monitor("modules").splitlines():
            f = line.split("\t")
            if len(f) < 3:
                continue
            name, path = f[0], f[1]
            sections = dict((s.split("=")[0], int(s.split("=")[1].split("/")[0], 16)) for s in f[2:])
            # -ffunction-sections: a module may have no .text, only .text.FUNC sections
            text = sections.pop(".text", None)
            args = "".join(" -s %s 0x%x" % (n, a) for n, a in sections.items() if not n.startswith((".rela", ".orc", ".note")))
            first = min(a for n, a in sections.items() if n.startswith(".text")) if text is None else text
            gdb.execute("add-symbol-file %s%s%s" % (path, "" if text is None else " 0x%x" % text, args), to_string=True)
            self.loaded[path] = first
            gdb.write("klp-lab: %s: symbols of %s at 0x%x\n" % (name, path, first))
        TABLES.invalidate()


class KlpConnect(gdb.Command):
    """klp-lab-connect [HOST:]PORT: connect to a lab's stub, load the image's and the modules' symbols."""

    def __init__(self):
        super().__init__("klp-lab-connect", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        target = arg.strip() or "127.0.0.1:1234"
        if ":" not in target:
            target = "127.0.0.1:" + target
        gdb.execute("target remote " + target)
        if gdb.current_progspace().filename is None:
            gdb.execute("file " + _monitor("image").strip())
        gdb.execute("klp-lab-symbols")


KlpSymbols()
KlpConnect()
