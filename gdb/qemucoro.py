# gdb commands for programs linked with qemucoro (x86_64, aarch64):
#
#   coroutine list        every coroutine with a stack: entry function,
#                         state, stack use
#   coroutine bt <co>     backtrace of a suspended coroutine (<co> is any
#                         expression giving its Coroutine *)
#   coroutine deadlocks   the deadlock cycles among suspended coroutines
#                         and the waits on locks no live coroutine holds
#   coroutine dump        the text qemucoro_dump() prints (crates/aio/src/dump.rs)
#
# `coroutine list` ends each live coroutine's line with what it waits for,
# from its wait record (crates/coroutine/src/wait.rs), in the words of
# qemucoro_dump(); `coroutine deadlocks` prints the dump's `deadlock:` and
# `orphan:` lines. Ages are measured against CLOCK_MONOTONIC on a live
# process, and in a core dump against the latest time the process stamped
# (qemucoro_coarse_now or the newest wait), which is when it last did
# anything the records see.
#
# For a QEMU built with the qemucoro backend it also gives QEMU's own
# `qemu coroutine` and `qemu bt` (gdb/qemucoro_qemu.py, loaded from here).
#
# Load with `source gdb/qemucoro.py`. Works on a live process and on a core
# dump: everything is read from memory, starting at two symbols the library
# keeps in every build: `qemucoro_registry` (the first coroutine that has a
# stack, linked through the registry) and `qemucoro_gdb_layout` (where the
# fields are; see crates/coroutine/src/registry.rs).
#
# Where a suspended coroutine's registers are: the switch's slot (co_sp in
# the layout) holds its saved stack pointer, and at that address the switch
# saved, from low to high, on x86_64 (crates/switch/src/arch/x86_64.rs) R15, R14,
# R13, R12, RBX, RBP and the resume address, and on aarch64
# (crates/switch/src/arch/aarch64.rs) d8-d15, x19-x28, x29 and x30 (the resume
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
import time

import gdb
import gdb.unwinder
from gdb.unwinder import Unwinder

LAYOUT_FIELDS = ("version", "co_next", "co_entry", "co_entry_arg",
                 "co_caller", "co_state", "co_sp", "co_stack_bottom",
                 "co_stack_size", "co_ctx", "co_wait_kind", "co_wait_object",
                 "co_wait_arg", "co_wait_since", "co_wait_tid",
                 "co_wait_last_caller", "co_wait_yield_stamp", "co_wait_held",
                 "wait_held_slots")
LAYOUT_VERSION = 3
LOCK_LAYOUT_FIELDS = ("version", "mutex_locked", "mutex_holder", "rwlock_owners")
LOCK_LAYOUT_VERSION = 1
STATE_LIVE = 1

# crates/coroutine/src/wait.rs's WAIT_* kinds.
(WAIT_NONE, WAIT_MUTEX, WAIT_RDLOCK, WAIT_WRLOCK, WAIT_QUEUE, WAIT_SLEEP,
 WAIT_FD_READ, WAIT_FD_WRITE, WAIT_SCHEDULED) = range(9)
NO_DEADLINE = (1 << 64) - 1


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


def read_u32(addr):
    return struct.unpack("<I", bytes(gdb.selected_inferior().read_memory(addr, 4)))[0]


def read_i32(addr):
    return struct.unpack("<i", bytes(gdb.selected_inferior().read_memory(addr, 4)))[0]


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
        self.ctx = read_word(addr + lay["co_ctx"])
        self.kind = read_byte(addr + lay["co_wait_kind"])
        self.object = read_word(addr + lay["co_wait_object"])
        self.arg = read_word(addr + lay["co_wait_arg"])
        self.since = read_word(addr + lay["co_wait_since"])
        self.tid = read_i32(addr + lay["co_wait_tid"])
        self.last_caller = read_word(addr + lay["co_wait_last_caller"])
        self.yield_stamp = read_word(addr + lay["co_wait_yield_stamp"])
        self.held = [read_word(addr + lay["co_wait_held"] + 8 * i)
                     for i in range(lay["wait_held_slots"])]

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


# --- What each coroutine waits for: crates/aio/src/dump.rs, line for line ---

def lock_layout():
    return read_layout("qemucoro_gdb_lock_layout", LOCK_LAYOUT_FIELDS, LOCK_LAYOUT_VERSION)


def is_core():
    """Whether the inferior is a core dump (ages then use its own stamps)."""
    try:
        conn = gdb.selected_inferior().connection
        return conn is not None and conn.type == "core"
    except AttributeError:
        return "core file" in gdb.execute("info target", to_string=True)


def now_ns(cos):
    if not is_core():
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    stamps = [read_word(symbol_address("qemucoro_coarse_now"))]
    stamps += [c.since for c in cos] + [c.yield_stamp for c in cos]
    return max(stamps)


def read_lock(kind, addr):
    """("mutex", locked, holder) or ("rwlock", owners), or None if unreadable."""
    if not addr:
        return None
    lay = lock_layout()
    try:
        if kind == WAIT_MUTEX:
            return ("mutex", read_u32(addr + lay["mutex_locked"]),
                    read_word(addr + lay["mutex_holder"]))
        if kind in (WAIT_RDLOCK, WAIT_WRLOCK):
            return ("rwlock", read_i32(addr + lay["rwlock_owners"]))
    except gdb.MemoryError:
        return None
    return None


class Hang:
    """The dump's view of every live coroutine: waits, holders, cycles."""

    def __init__(self):
        everything = list(coroutines())
        self.cos = [c for c in everything if c.live]
        self.pooled = set(c.addr for c in everything if not c.live)
        self.index = dict((c.addr, i) for i, c in enumerate(self.cos))
        self.now = now_ns(self.cos)
        self.names = {}
        self.holders = [self.holders_of(c) for c in self.cos]

    def name(self, addr):
        if addr not in self.names:
            self.names[addr] = symbol_name(addr) if addr else "?"
        return self.names[addr]

    def holders_of(self, c):
        """("known", [(index, role)]) or ("none", why), or None."""
        if c.caller:
            return None
        lock = self.lock_of(c)
        if lock is None:
            return None
        if lock[0] == "mutex":
            _, locked, holder = lock
            if holder in self.index:
                return ("known", [(self.index[holder], "")])
            if holder == 0 and locked == 0:
                return ("none", "no one (it is free)")
            if holder == 0:
                return ("none", "no coroutine (being handed over)")
            if holder in self.pooled:
                return ("none", "a terminated coroutine 0x%x" % holder)
            return ("none", "0x%x, thread code (not a coroutine)" % holder)
        owners = lock[1]
        role = "writer" if owners < 0 else "reader"
        known = [(i, role) for i, h in enumerate(self.cos) if c.object in h.held]
        if owners == 0:
            return ("none", "no one (it is free)")
        if not known:
            count = "a writer" if owners < 0 else "%d reader(s)" % owners
            return ("none", "%s not known to be coroutines" % count)
        return ("known", known)

    @staticmethod
    def lock_of(c):
        """What read_lock gives for the lock `c` waits on (QEMU's differs)."""
        return read_lock(c.kind, c.object)

    def place(self, c):
        waiting = c.kind != WAIT_NONE and not c.caller
        if waiting:
            return " [thread %d, ctx 0x%x]" % (c.tid, c.ctx) if c.ctx else " [thread %d]" % c.tid
        return " [ctx 0x%x]" % c.ctx if c.ctx else ""

    @staticmethod
    def thread_part(c):
        return ", thread %d" % c.tid if c.kind != WAIT_NONE and c.tid else ""

    @staticmethod
    def lock_name(c):
        if c.kind == WAIT_MUTEX:
            return "CoMutex 0x%x" % c.object
        if c.kind == WAIT_RDLOCK:
            return "CoRwlock 0x%x (read)" % c.object
        if c.kind == WAIT_WRLOCK:
            return "CoRwlock 0x%x (write)" % c.object
        return "0x%x" % c.object

    @staticmethod
    def secs(ns):
        return "%d.%03d s" % (ns // 1000000000, ns % 1000000000 // 1000000)

    def age(self, since):
        return "? s" if since == 0 else self.secs(max(self.now - since, 0))

    def describe(self, i):
        c = self.cos[i]
        if c.caller:
            return "entered (running, or waiting for a coroutine it entered)"
        waited = self.age(c.since)
        if c.kind in (WAIT_MUTEX, WAIT_RDLOCK, WAIT_WRLOCK):
            h = self.holders[i]
            if h is None:
                held = "? (the lock is not readable)"
            elif h[0] == "none":
                held = h[1]
            else:
                held = ", ".join("%s%s0x%x (entry %s)" % (role, " " if role else "",
                                                         self.cos[j].addr,
                                                         self.name(self.cos[j].entry))
                                 for j, role in h[1])
            return "waits %s for %s held by %s" % (waited, self.lock_name(c), held)
        if c.kind == WAIT_QUEUE:
            if c.arg == 0:
                return "waits %s on CoQueue 0x%x" % (waited, c.object)
            return "waits %s on CoQueue 0x%x (lock 0x%x)" % (waited, c.object, c.arg)
        if c.kind == WAIT_SLEEP and c.arg == NO_DEADLINE:
            return "sleeps %s until woken (QemuCoSleep 0x%x)" % (waited, c.object)
        if c.kind == WAIT_SLEEP:
            left = max(c.since + c.arg - self.now, 0)
            return "sleeps %s, %s left (QemuCoSleep 0x%x)" % (waited, self.secs(left), c.object)
        if c.kind in (WAIT_FD_READ, WAIT_FD_WRITE):
            fd = struct.unpack("<i", struct.pack("<I", c.arg & 0xffffffff))[0]
            how = "readable" if c.kind == WAIT_FD_READ else "writable"
            return "waits %s for fd %d to be %s (AioContext 0x%x)" % (waited, fd, how, c.object)
        if c.kind == WAIT_SCHEDULED:
            since = c.yield_stamp if (c.arg & 0xff) == WAIT_NONE else c.since
            return "scheduled on AioContext 0x%x, not run yet (waiting %s)" % (
                c.object, self.age(since))
        if c.last_caller in self.index:
            by_co = self.cos[self.index[c.last_caller]]
            by = "coroutine 0x%x (entry %s)" % (by_co.addr, self.name(by_co.entry))
        elif c.last_caller == 0:
            by = "no one (never entered)"
        else:
            by = "0x%x (thread code)" % c.last_caller
        return ("yielded %s ago, entered last by %s; no wait recorded "
                "(a lost wake-up if no one re-enters it)" % (self.age(c.yield_stamp), by))

    def line(self, i):
        c = self.cos[i]
        return "coroutine 0x%x entry %s%s: %s" % (c.addr, self.name(c.entry), self.place(c),
                                                   self.describe(i))

    def edges(self, i):
        h = self.holders[i]
        return [j for j, _ in h[1]] if h and h[0] == "known" else []

    def cycles(self):
        """Back edges of a depth-first search, each cycle once (dump.rs's order)."""
        colour = [0] * len(self.cos)
        found = []
        for root in range(len(self.cos)):
            if colour[root]:
                continue
            colour[root] = 1
            path = [(root, self.edges(root))]
            while path:
                node, todo = path[-1]
                if not todo:
                    colour[node] = 2
                    path.pop()
                    continue
                nxt = todo.pop()
                if colour[nxt] == 0:
                    colour[nxt] = 1
                    path.append((nxt, self.edges(nxt)))
                elif colour[nxt] == 1:
                    nodes = [n for n, _ in path]
                    cycle = nodes[nodes.index(nxt):]
                    low = cycle.index(min(cycle))
                    cycle = cycle[low:] + cycle[:low]
                    if cycle not in found:
                        found.append(cycle)
        return found

    def cycle_text(self, cycle):
        parts = []
        for k, i in enumerate(cycle):
            c = self.cos[i]
            nxt = cycle[(k + 1) % len(cycle)]
            role = next((r for j, r in self.holders[i][1] if j == nxt), "")
            parts.append("coroutine 0x%x (entry %s%s) waits for %s held by 0x%x%s" % (
                c.addr, self.name(c.entry), self.thread_part(c), self.lock_name(c),
                self.cos[nxt].addr, " (%s)" % role if role else ""))
        return "; ".join(parts)

    def problems(self):
        """The dump's deadlock: and orphan: lines, and its closing line."""
        out = []
        found = self.cycles()
        for cycle in found:
            out.append("deadlock: " + self.cycle_text(cycle))
        for i, h in enumerate(self.holders):
            if h and h[0] == "none":
                c = self.cos[i]
                out.append("orphan: coroutine 0x%x (entry %s%s) waits for %s held by %s" % (
                    c.addr, self.name(c.entry), self.thread_part(c), self.lock_name(c), h[1]))
        if found:
            out.append("qemucoro dump: %d deadlock cycle(s)" % len(found))
        else:
            out.append("qemucoro dump: no deadlock cycle")
        return out

    def text(self):
        out = ["qemucoro dump: %d live coroutines, %d pooled" % (len(self.cos), len(self.pooled))]
        out += [self.line(i) for i in range(len(self.cos))]
        return "\n".join(out + self.problems()) + "\n"


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
        hang = Hang()
        for co in coroutines():
            state, used = describe(co, sps)
            use = "%d/%d" % (used, co.size) if used is not None else "-/%d" % co.size
            wait = ""
            if co.addr in hang.index and state == "suspended":
                wait = "  " + hang.place(co).strip() + " " + hang.describe(hang.index[co.addr])
            gdb.write("0x%x  %-30s stack %-16s entry %s%s\n"
                      % (co.addr, state, use, symbol_name(co.entry) if co.live else "-", wait))


class CoroutineDeadlocks(gdb.Command):
    """Deadlock cycles among suspended coroutines, and waits on locks no live
coroutine holds: qemucoro_dump()'s deadlock: and orphan: lines."""

    def __init__(self):
        super().__init__("coroutine deadlocks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.write("\n".join(Hang().problems()) + "\n")


class CoroutineDump(gdb.Command):
    """What qemucoro_dump() would print, read from memory only."""

    def __init__(self):
        super().__init__("coroutine dump", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.write(Hang().text())


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
    def show(frame, level):
        gdb.write("#%-2d %s\n" % (level, describe_frame(frame, level)))
    walk_frames(regs, show)


def walk_frames(regs, visit):
    """Calls visit(frame, level) on each frame of the context `regs`,
    innermost first, until it returns true. The frames are gone after."""
    selected = gdb.selected_frame()
    SUSPENDED.regs, SUSPENDED.claimed = regs, None
    gdb.invalidate_cached_frames()
    try:
        frame, level = gdb.newest_frame().older(), 0
        # The stack's first frame, qemucoro_fiber_start, is linked (by its
        # unwind info) to whoever the slot names: for a suspended coroutine,
        # its own saved frame. Stop there.
        while frame is not None:
            if visit(frame, level) or frame.name() == "qemucoro_fiber_start":
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
CoroutineDeadlocks()
CoroutineDump()

# QEMU's commands for its qemucoro backend; that module takes the helpers
# above from this (gdb's __main__) namespace.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemucoro_qemu  # noqa: E402,F401
