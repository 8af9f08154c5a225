# gdb commands for programs linked with qemucoro (x86_64, aarch64):
#
#   coroutine list        every coroutine with a stack: entry function,
#                         state, stack use
#   coroutine bt <co>     backtrace of a suspended coroutine (<co> is any
#                         expression giving its Coroutine *)
#
# For a QEMU built with the qemucoro backend it also gives QEMU's own
# `qemu coroutine` and `qemu bt` (gdb/qemucoro_qemu.py, loaded from here).
#
# Load with `source gdb/qemucoro.py`. Works on a live process and on a core
# dump: everything is read from memory, starting at two symbols the library
# keeps in every build: `qemucoro_registry` (the first coroutine that has a
# stack, linked through the registry) and `qemucoro_gdb_layout` (where the
# fields are; see src/coroutine/registry.rs).
#
# Where a suspended coroutine's registers are: the switch's slot (co_sp in
# the layout) holds its saved stack pointer, and at that address the switch
# saved, from low to high, on x86_64 (src/switch/arch/x86_64.rs) R15, R14,
# R13, R12, RBX, RBP and the resume address, and on aarch64
# (src/switch/arch/aarch64.rs) d8-d15, x19-x28, x29 and x30 (the resume
# address); the suspended code continues there with its stack pointer just
# above those words. A coroutine never entered has the same frame, laid out
# by hand, resuming at qemucoro_fiber_start. While a coroutine runs, the
# slot holds its enterer's stack pointer instead.
# qemu_coroutine_yield tail-jumps into the switch, so a yielded coroutine's
# innermost frame is the function that called qemu_coroutine_yield.
#
# SPDX-License-Identifier: MIT OR Apache-2.0

import os
import struct
import sys

import gdb
import gdb.unwinder
from gdb.unwinder import Unwinder

LAYOUT_FIELDS = ("version", "co_next", "co_entry", "co_entry_arg",
                 "co_caller", "co_state", "co_sp", "co_stack_bottom",
                 "co_stack_size")
LAYOUT_VERSION = 2
STATE_LIVE = 1


class Arch:
    """The switch's saved frame on one architecture."""

    def __init__(self, frame, sp, pc, resume):
        self.frame = frame    # register names, in words from the saved sp
        self.sp = sp          # gdb's names of the stack pointer and the pc
        self.pc = pc
        self.resume = resume  # the word that holds the resume address

    def saved_regs(self, sp):
        """The registers a suspended context resumes with."""
        regs = dict((reg, read_word(sp + 8 * i)) for i, reg in enumerate(self.frame))
        regs[self.pc] = regs[self.resume]
        regs[self.sp] = sp + 8 * len(self.frame)
        return regs

    def resume_address(self, sp):
        return read_word(sp + 8 * self.frame.index(self.resume))


X86_64 = Arch(("r15", "r14", "r13", "r12", "rbx", "rbp", "rip"), "rsp", "rip", "rip")
AARCH64 = Arch(tuple("d%d" % i for i in range(8, 16)) + tuple("x%d" % i for i in range(19, 31)),
               "sp", "pc", "x30")


def arch():
    name = gdb.selected_inferior().architecture().name()
    if name.startswith("aarch64"):
        return AARCH64
    if name == "i386:x86-64":
        return X86_64
    raise gdb.GdbError("qemucoro.py knows x86_64 and aarch64, not %s" % name)


def read_word(addr):
    return struct.unpack("<Q", bytes(gdb.selected_inferior().read_memory(addr, 8)))[0]


def read_byte(addr):
    return bytes(gdb.selected_inferior().read_memory(addr, 1))[0]


def symbol_address(name):
    return int(gdb.parse_and_eval("(unsigned long)&%s" % name))


def fiber_start():
    """Where a fresh stack's first switch lands (0 if the symbol is gone)."""
    try:
        return symbol_address("qemucoro_fiber_start")
    except gdb.error:
        return 0


def read_layout(symbol, fields, version):
    """The table of words at `symbol`: offsets the library exports for us."""
    base = symbol_address(symbol)
    lay = dict((f, read_word(base + 8 * i)) for i, f in enumerate(fields))
    if lay["version"] != version:
        raise gdb.GdbError("%s is version %d, this script knows %d"
                           % (symbol, lay["version"], version))
    return lay


def layout():
    return read_layout("qemucoro_gdb_layout", LAYOUT_FIELDS, LAYOUT_VERSION)


class Co:
    """One coroutine, read from memory."""

    def __init__(self, lay, addr):
        self.addr = addr
        self.next = read_word(addr + lay["co_next"])
        self.entry = read_word(addr + lay["co_entry"])
        self.caller = read_word(addr + lay["co_caller"])
        self.live = read_byte(addr + lay["co_state"]) == STATE_LIVE
        self.bottom = read_word(addr + lay["co_stack_bottom"])
        self.size = read_word(addr + lay["co_stack_size"])
        self.top = self.bottom + self.size
        sp = read_word(addr + lay["co_sp"])
        # Inside its own stack: suspended (or never entered); otherwise the
        # slot names whoever entered it, and it is running.
        self.saved_sp = sp if self.contains(sp) else None
        self.started = self.saved_sp is not None and \
            arch().resume_address(sp) != fiber_start()

    def contains(self, sp):
        return self.bottom <= sp < self.top


def coroutines():
    lay = layout()
    co = read_word(symbol_address("qemucoro_registry"))
    seen = set()
    while co and co not in seen:
        seen.add(co)
        c = Co(lay, co)
        yield c
        co = c.next


def symbol_name(addr):
    if not addr:
        return "(none)"
    text = gdb.execute("info symbol 0x%x" % addr, to_string=True).strip()
    if text.startswith("No symbol"):
        return "0x%x" % addr
    return text.split(" in section ")[0]


def running_sps():
    """Thread number -> stack pointer at the innermost frame of each thread."""
    sps = {}
    selected_thread = gdb.selected_thread()
    selected_frame = gdb.selected_frame() if selected_thread else None
    for thread in gdb.selected_inferior().threads():
        thread.switch()
        sps[thread.num] = int(gdb.newest_frame().read_register(arch().sp))
    if selected_thread:
        selected_thread.switch()
        selected_frame.select()
    return sps


def describe(co, sps):
    """State and stack use (bytes from the top to where the stack is now)."""
    if not co.live:
        return "pooled", None
    for num, sp in sps.items():
        if co.contains(sp):
            return "running in thread %d" % num, co.top - sp
    if co.caller:
        return "entered (it entered another)", None
    if co.saved_sp is None or not co.started:
        return "created, not yet entered", None
    return "suspended", co.top - co.saved_sp


class CoroutineCommand(gdb.Command):
    """Inspect qemucoro coroutines: coroutine list | coroutine bt <co>"""

    def __init__(self):
        super().__init__("coroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class CoroutineList(gdb.Command):
    """List every coroutine that has a stack: address, state, stack use, entry."""

    def __init__(self):
        super().__init__("coroutine list", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        sps = running_sps()
        for co in coroutines():
            state, used = describe(co, sps)
            use = "%d/%d" % (used, co.size) if used is not None else "-/%d" % co.size
            gdb.write("0x%x  %-30s stack %-16s entry %s\n"
                      % (co.addr, state, use, symbol_name(co.entry) if co.live else "-"))


class CoroutineBacktrace(gdb.Command):
    """Backtrace of a suspended coroutine: coroutine bt <Coroutine * expression>"""

    def __init__(self):
        super().__init__("coroutine bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg:
            raise gdb.GdbError("usage: coroutine bt <Coroutine *>")
        addr = int(gdb.parse_and_eval("(unsigned long)(%s)" % arg))
        co = next((c for c in coroutines() if c.addr == addr), None)
        if co is None:
            raise gdb.GdbError("0x%x is not a coroutine with a stack" % addr)
        state, _ = describe(co, running_sps())
        if state != "suspended" and state != "pooled":
            raise gdb.GdbError("coroutine 0x%x is %s: use bt in its thread" % (addr, state))
        if co.saved_sp is None:
            raise gdb.GdbError("coroutine 0x%x has no saved context" % addr)
        backtrace_from(arch().saved_regs(co.saved_sp))


class FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class SuspendedContext(Unwinder):
    """Makes the innermost frame's caller be a suspended coroutine's context.

    Registers cannot be written in a core dump, so instead of loading the
    saved registers into the thread (as one would live), we tell gdb that the
    innermost frame was "called" from them, and let gdb's own CFI unwinding
    take it from there. Only active during `coroutine bt`.
    """

    def __init__(self):
        super().__init__("qemucoro suspended coroutine")
        self.regs = None
        self.claimed = None

    def __call__(self, pending):
        if self.regs is None:
            return None
        a = arch()
        this = (int(pending.read_register(a.sp)), int(pending.read_register(a.pc)))
        if self.claimed is None:
            self.claimed = this
        elif self.claimed != this:
            return None
        # A tiny stack address for this frame's id, so gdb does not stop at
        # "previous frame inner to this frame": the coroutine's stack may lie
        # below the thread's.
        ulong = gdb.lookup_type("unsigned long")
        info = pending.create_unwind_info(
            FrameId(gdb.Value(8).cast(ulong), gdb.Value(this[1]).cast(ulong)))
        for reg, value in self.regs.items():
            info.add_saved_register(reg, gdb.Value(value).cast(ulong))
        return info


SUSPENDED = SuspendedContext()
gdb.unwinder.register_unwinder(None, SUSPENDED, replace=True)


def backtrace_from(regs):
    """Prints the frames of the context `regs`, gdb-style."""
    selected = gdb.selected_frame()
    SUSPENDED.regs, SUSPENDED.claimed = regs, None
    gdb.invalidate_cached_frames()
    try:
        frame, level = gdb.newest_frame().older(), 0
        # The stack's first frame, qemucoro_fiber_start, is linked (by its
        # unwind info) to whoever the slot names: for a suspended coroutine,
        # its own saved frame. Stop there.
        while frame is not None:
            gdb.write("#%-2d %s\n" % (level, describe_frame(frame, level)))
            if frame.name() == "qemucoro_fiber_start":
                break
            frame, level = frame.older(), level + 1
    finally:
        SUSPENDED.regs = None
        gdb.invalidate_cached_frames()
        try:
            selected.select()
        except gdb.error:
            pass


def describe_frame(frame, level):
    name = frame.name() or "??"
    pc = frame.pc()
    sal = frame.find_sal()
    where = " at %s:%d" % (sal.symtab.filename, sal.line) if sal.symtab else ""
    if level > 0 and frame.type() == gdb.INLINE_FRAME:
        return "%s ()%s" % (name, where)
    return "0x%016x in %s ()%s" % (pc, name, where)


CoroutineCommand()
CoroutineList()
CoroutineBacktrace()

# QEMU's commands for its qemucoro backend; that module takes the helpers
# above from this (gdb's __main__) namespace.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemucoro_qemu  # noqa: E402,F401
