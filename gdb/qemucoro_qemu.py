# QEMU's own coroutine commands for a QEMU built with the qemucoro backend
# (x86_64). scripts/qemugdb/coroutine.py reads ucontext's sigjmp_buf, which
# our backend does not have; these commands have the same names and output
# shape but read our layout:
#
#   qemu coroutine <co>   backtrace of a coroutine that is not running: one
#                         that yielded, or one that entered another (a caller
#                         of the current coroutine, in the stopped thread)
#   qemu bt               bt, then "Coroutine at 0x...:" and the frames of
#                         each coroutine that entered the current one, out
#                         to the thread's leader
#   $qemu_coroutine_sp(co), $qemu_coroutine_pc(co)   its saved SP and PC
#   qemu coroutines       every live coroutine, with the standalone library's
#                         `coroutine list` columns and its wait/holder words
#   qemu deadlocks        the CoMutex deadlock cycles, and waits on locks no
#                         live coroutine holds, in `coroutine deadlocks`'s
#                         words (the same cycle search, gdb/qemucoro.py's Hang)
#
# In full mode (QEMU on the library's whole coroutine API) the same commands
# read the core's layout table instead, and `qemu coroutines` / `qemu
# deadlocks` are `coroutine list` / `coroutine deadlocks`: the core keeps
# the registry and the wait records itself (with times).
#
# In switch mode QEMU keeps no list of its coroutines and records no waits: the backend
# links every coroutine it made into `qemucoro_qemu_registry`
# (crates/qemu-backend/src/registry.rs), and what a suspended coroutine waits for
# is read off its stack: the innermost frame in one of QEMU's wait
# functions (WAIT_FRAMES), and that frame's arguments from QEMU's debug
# info. A CoMutex names its holder; a CoRwlock only counts its owners, and
# QEMU keeps no times, so ages print as "? s".
#
# Loaded by gdb/qemucoro.py (`source gdb/qemucoro.py`, after QEMU's
# scripts/qemu-gdb.py if both are wanted: these replace its two commands).
# Works on a live process and on a core: everything is read from memory,
# starting at `qemucoro_qemu_gdb_layout` (crates/qemu-backend/src/lib.rs) and this
# thread's current coroutine, the first word of the switch's thread block
# `qemucoro_tls`, found through the executable's ELF symbol table (the
# backend's symbols are local).
#
# Where a coroutine's registers are, with our switch (the frame is drawn in
# crates/switch/src/arch/x86_64.rs): each fiber has one slot (`sp` in the layout)
#  - of one that yielded (or was never entered), its own saved stack
#    pointer;
#  - of one that runs or entered another, the saved stack pointer of
#    whoever entered it (or of the leader).
# What lies at a saved stack pointer is gdb/qemucoro.py's to read (its
# Arch); only finding the current coroutine here is x86_64's alone.
#
# SPDX-License-Identifier: MIT OR Apache-2.0

import struct

import gdb

from __main__ import arch, layout, read_layout, read_word, symbol_address, backtrace_from
from __main__ import (Hang, running_sps, symbol_name, walk_frames, WAIT_NONE, WAIT_MUTEX,
                      WAIT_RDLOCK, WAIT_WRLOCK, WAIT_QUEUE, WAIT_SLEEP, WAIT_FD_READ,
                      WAIT_FD_WRITE, WAIT_SCHEDULED)

QEMU_LAYOUT_FIELDS = ("version", "caller", "stack_bottom", "stack_size", "sp", "next")
QEMU_LAYOUT_VERSION = 3
# Offsets in QEMU's struct Coroutine (include/qemu/coroutine_int.h; pinned
# by crates/qemu-backend/src/lib.rs).
CO_ENTRY, CO_CTX, CO_SCHEDULED = 0, 40, 48
# The fiber's body loop (crates/switch/src/base.rs), demangled or not: a
# coroutine whose saved context resumes there has terminated.
BODY_LOOP_NAMES = ("qemucoro_switch::base::body", "qemucoro_switch4base4body")
CURRENT_SYMBOL = b"qemucoro_tls"
PT_TLS = 7
STT_TLS = 6


def qemu_layout():
    try:
        symbol_address("qemucoro_qemu_gdb_layout")
    except gdb.error:
        return full_mode_layout()
    return read_layout("qemucoro_qemu_gdb_layout", QEMU_LAYOUT_FIELDS, QEMU_LAYOUT_VERSION)


def full_mode_layout():
    """Full mode (crates/qemu-full): QEMU runs on the library's own core,
    whose layout table has the words this script needs under the core's
    names; its registry, wait records and hang analysis are gdb/qemucoro.py's."""
    try:
        core = layout()
    except gdb.error:
        raise gdb.GdbError("not a QEMU built with qemucoro (neither "
                           "qemucoro_qemu_gdb_layout nor qemucoro_gdb_layout)")
    return {"version": QEMU_LAYOUT_VERSION, "caller": core["co_caller"],
            "stack_bottom": core["co_stack_bottom"], "stack_size": core["co_stack_size"],
            "sp": core["co_sp"], "next": core["co_next"], "full": True}


class Elf:
    """What we need from the executable: its TLS segment and one symbol."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        (self.phoff, self.shoff, _, _, self.phentsize, self.phnum,
         self.shentsize, self.shnum, _) = struct.unpack_from("<QQIHHHHHH", self.data, 0x20)

    def tls_segment(self):
        for i in range(self.phnum):
            off = self.phoff + i * self.phentsize
            p_type, _, _, p_vaddr, _, _, p_memsz, p_align = struct.unpack_from(
                "<IIQQQQQQ", self.data, off)
            if p_type == PT_TLS:
                return p_vaddr, p_memsz, max(p_align, 1)
        raise gdb.GdbError("the executable has no TLS segment")

    def sections(self):
        for i in range(self.shnum):
            yield struct.unpack_from("<IIQQQQIIQQ", self.data, self.shoff + i * self.shentsize)

    def tls_symbol(self, prefix):
        """st_value of the first STT_TLS symbol whose name starts with prefix."""
        secs = list(self.sections())
        for (_, sh_type, _, _, off, size, link, _, _, entsize) in secs:
            if sh_type != 2:  # SHT_SYMTAB
                continue
            stroff = secs[link][4]
            for s in range(off, off + size, entsize):
                st_name, st_info, _, _, st_value, _ = struct.unpack_from("<IBBHQQ", self.data, s)
                if st_info & 0xF != STT_TLS:
                    continue
                if self.data.startswith(prefix, stroff + st_name):
                    return st_value
        raise gdb.GdbError("no %s symbol: is this QEMU built with the qemucoro backend?"
                           % prefix.decode())


ELF_CACHE = {}


def current_coroutine():
    """This thread's current coroutine (NULL before its first coroutine call).

    The executable's TLS block sits just below the thread pointer (x86_64,
    variant II) at glibc's offset for the first module, and the backend's
    TLS uses the local-exec model, so its address is fs_base minus that
    offset plus the symbol's value.
    """
    path = gdb.current_progspace().filename
    if path not in ELF_CACHE:
        elf = Elf(path)
        ELF_CACHE[path] = (elf.tls_segment(), elf.tls_symbol(CURRENT_SYMBOL))
    (vaddr, memsz, align), value = ELF_CACHE[path]
    firstbyte = -vaddr & (align - 1)
    offset = (memsz - firstbyte + align - 1) // align * align + firstbyte
    fs_base = int(gdb.parse_and_eval("(unsigned long)$fs_base"))
    return read_word(fs_base - offset + value)


def stack_of(lay, co):
    bottom = read_word(co + lay["stack_bottom"])
    return bottom, bottom + read_word(co + lay["stack_size"])


def yielded_regs(lay, co):
    """Registers of a coroutine that yielded (or terminated into the pool)."""
    bottom, top = stack_of(lay, co)
    sp = read_word(co + lay["sp"])
    if not bottom <= sp < top:
        return None
    regs = arch().saved_regs(sp)
    try:
        if regs[arch().pc] == symbol_address("qemucoro_fiber_start"):
            return None
    except gdb.error:
        pass
    return regs


def parent_regs(lay, child):
    """Registers of whoever entered `child`, from child's slot."""
    return arch().saved_regs(read_word(child + lay["sp"]))


def caller_chain(lay):
    """[(co, child)] from the current coroutine out to the leader."""
    co = current_coroutine()
    chain, child = [], None
    while co:
        chain.append((co, child))
        child, co = co, read_word(co + lay["caller"])
        if len(chain) > 100000:
            raise gdb.GdbError("caller chain does not end: memory corrupt?")
    return chain


def coroutine_regs(lay, co):
    for c, child in caller_chain(lay):
        if c == co:
            if child is None:
                raise gdb.GdbError("coroutine 0x%x is running in this thread: use bt" % co)
            return parent_regs(lay, child)
    if read_word(co + lay["caller"]):
        raise gdb.GdbError("coroutine 0x%x has entered another, in a thread other than "
                           "this one: select that thread" % co)
    regs = yielded_regs(lay, co)
    if regs is None:
        raise gdb.GdbError("coroutine 0x%x was never entered: no saved context" % co)
    return regs


def pointer_arg(arg):
    argv = gdb.string_to_argv(arg)
    if len(argv) != 1:
        raise gdb.GdbError("usage: qemu coroutine <coroutine-pointer>")
    return int(gdb.parse_and_eval("(unsigned long)(%s)" % argv[0]))


class QemuPrefix(gdb.Command):
    """QEMU debug support commands (qemucoro backend: coroutine, bt)."""

    def __init__(self):
        super().__init__("qemu", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class QemuCoroutine(gdb.Command):
    """Backtrace of a QEMU coroutine: qemu coroutine <coroutine-pointer>"""

    def __init__(self):
        super().__init__("qemu coroutine", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        lay = qemu_layout()
        backtrace_from(coroutine_regs(lay, pointer_arg(arg)))


class QemuBt(gdb.Command):
    """bt, then the frames of every coroutine that entered the current one."""

    def __init__(self):
        super().__init__("qemu bt", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        lay = qemu_layout()
        gdb.execute("bt")
        chain = caller_chain(lay)
        for co, child in chain[1:]:
            gdb.write("Coroutine at 0x%x:\n" % co)
            backtrace_from(parent_regs(lay, child))


class QemuCoroutineSP(gdb.Function):
    """$qemu_coroutine_sp(co): the stack pointer a coroutine resumes with."""

    def __init__(self):
        super().__init__("qemu_coroutine_sp")

    def invoke(self, co):
        regs = coroutine_regs(qemu_layout(), int(co.cast(gdb.lookup_type("unsigned long"))))
        return gdb.Value(regs[arch().sp]).cast(gdb.lookup_type("void").pointer())


class QemuCoroutinePC(gdb.Function):
    """$qemu_coroutine_pc(co): the address a coroutine resumes at."""

    def __init__(self):
        super().__init__("qemu_coroutine_pc")

    def invoke(self, co):
        regs = coroutine_regs(qemu_layout(), int(co.cast(gdb.lookup_type("unsigned long"))))
        return gdb.Value(regs[arch().pc]).cast(gdb.lookup_type("void").pointer())


# --- Every live coroutine and what it waits for ---

# QEMU's wait functions: the wait kind, and which of the frame's variables
# give (object, arg). A frame that lost a variable to the optimiser leaves
# it to the next frame out of the same kind (qemu_co_mutex_lock for its
# slow path).
WAIT_FRAMES = {
    "qemu_co_mutex_lock_slowpath": (WAIT_MUTEX, "mutex", None),
    "qemu_co_mutex_lock": (WAIT_MUTEX, "mutex", None),
    "qemu_co_queue_wait_impl": (WAIT_QUEUE, "queue", "lock"),
    "qemu_co_rwlock_rdlock": (WAIT_RDLOCK, "lock", None),
    "qemu_co_rwlock_wrlock": (WAIT_WRLOCK, "lock", None),
    "qemu_co_rwlock_upgrade": (WAIT_WRLOCK, "lock", None),
    "qemu_co_sleep": (WAIT_SLEEP, "w", None),
    "qemu_co_sleep_ns_wakeable": (WAIT_SLEEP, "w", "ns"),
    "yield_until_fd_readable": (WAIT_FD_READ, None, "fd"),
    "qemu_co_sendv_recvv": (WAIT_FD_READ, None, "sockfd"),
}
# How many frames past the innermost wait frame may still fill in its
# variables.
WAIT_FRAME_REACH = 3


def frame_var(frame, name):
    """The variable `name` of `frame`, or None if it is gone or unreadable."""
    try:
        value = frame.read_var(name)
        if value.is_optimized_out:
            return None
        int(value)
        return value
    except (ValueError, gdb.error, gdb.MemoryError):
        return None


class QemuCo:
    """One coroutine on the registry, in the attributes Hang reads."""

    def __init__(self, lay, addr, sps):
        self.addr, self.entry = addr, read_word(addr + CO_ENTRY)
        self.caller = read_word(addr + lay["caller"])
        self.ctx = read_word(addr + CO_CTX)
        self.bottom, self.top = stack_of(lay, addr)
        self.size = self.top - self.bottom
        self.kind, self.object, self.arg, self.lock = WAIT_NONE, 0, None, None
        self.since = self.tid = self.last_caller = self.yield_stamp = 0
        self.held, self.innermost, self.sched = [], None, None
        self.live, self.used = True, None
        self.state = self.classify(lay, sps)

    def classify(self, lay, sps):
        for num, sp in sps.items():
            if self.bottom <= sp < self.top:
                self.used = self.top - sp
                return "running in thread %d" % num
        if self.caller:
            return "entered (it entered another)"
        sp = read_word(self.addr + lay["sp"])
        if not self.bottom <= sp < self.top:
            return "no saved context"
        resume = arch().resume_address(sp)
        if resume == symbol_address("qemucoro_fiber_start"):
            return "created, not yet entered"
        if any(n in symbol_name(resume) for n in BODY_LOOP_NAMES):
            # Back in the fiber's body loop (qemucoro_switch::base::body)
            # after a TERMINATE switch: QEMU's pool holds it for re-use.
            self.live = False
            return "pooled"
        self.used = self.top - sp
        self.read_wait(arch().saved_regs(sp))
        scheduled = read_word(self.addr + CO_SCHEDULED)
        if self.kind == WAIT_NONE and scheduled:
            self.kind = WAIT_SCHEDULED
            self.sched = symbol_string(scheduled)
        return "suspended"

    def read_wait(self, regs):
        first = []    # [(kind, level)] of the innermost wait frame

        def visit(frame, level):
            name = frame.name() or "??"
            if level == 0:
                self.innermost = name
            spec = WAIT_FRAMES.get(name)
            if spec and not first:
                first.append((spec[0], level))
                self.kind = spec[0]
            if spec and spec[0] == first[0][0]:
                self.fill(frame, spec)
            return bool(first) and level >= first[0][1] + WAIT_FRAME_REACH

        walk_frames(regs, visit)

    def fill(self, frame, spec):
        """Takes what this wait frame gives that newer ones did not."""
        kind, obj_var, arg_var = spec
        if obj_var and not self.object:
            value = frame_var(frame, obj_var)
            if value is not None:
                self.object = int(value)
                self.lock = read_qemu_lock(kind, value)
        if arg_var and self.arg is None:
            value = frame_var(frame, arg_var)
            if value is not None:
                self.arg = qemu_wait_arg(frame, kind, arg_var, value)


def read_qemu_lock(kind, value):
    """The holder side of a CoMutex or CoRwlock, as Hang.lock_of gives it."""
    try:
        if kind == WAIT_MUTEX:
            mutex = value.dereference()
            return ("mutex", int(mutex["locked"]), int(mutex["holder"]))
        if kind in (WAIT_RDLOCK, WAIT_WRLOCK):
            return ("rwlock", int(value.dereference()["owners"]))
    except (gdb.error, gdb.MemoryError):
        pass
    return None


def qemu_wait_arg(frame, kind, var, value):
    """A queue's lock object, a sleep's ns, or an fd with its direction."""
    if kind == WAIT_QUEUE:
        return int(value.dereference()["object"]) if int(value) else 0
    if var == "sockfd":
        send = frame_var(frame, "do_send")
        return (int(value), None if send is None else bool(send))
    return int(value)


def symbol_string(addr):
    try:
        return gdb.Value(addr).cast(gdb.lookup_type("char").pointer()).string(length=64)
    except (gdb.error, gdb.MemoryError, UnicodeDecodeError):
        return "0x%x" % addr


def qemu_coroutines():
    lay = qemu_layout()
    sps = running_sps()
    co, seen = read_word(symbol_address("qemucoro_qemu_registry")), set()
    while co and co not in seen:
        seen.add(co)
        yield QemuCo(lay, co, sps)
        co = read_word(co + lay["next"])


class QemuHang(Hang):
    """Hang's words and cycle search over the QEMU backend's coroutines."""

    def __init__(self):
        # Not Hang's: that reads the standalone library's registry.
        self.everything = list(qemu_coroutines())
        self.cos = [c for c in self.everything if c.live]
        self.pooled = set(c.addr for c in self.everything if not c.live)
        self.index = dict((c.addr, i) for i, c in enumerate(self.cos))
        self.now = 0
        self.names = {}
        self.holders = [self.holders_of(c) for c in self.cos]

    @staticmethod
    def lock_of(c):
        return c.lock

    def place(self, c):
        return " [ctx 0x%x]" % c.ctx if c.ctx else ""

    def describe(self, i):
        c = self.cos[i]
        if c.caller or c.kind in (WAIT_MUTEX, WAIT_RDLOCK, WAIT_WRLOCK, WAIT_QUEUE):
            return Hang.describe(self, i)
        if c.state == "created, not yet entered":
            return c.state
        if c.kind == WAIT_SLEEP and c.arg is None:
            return "sleeps ? s until woken (QemuCoSleep 0x%x)" % c.object
        if c.kind == WAIT_SLEEP:
            return "sleeps ? s of %s (QemuCoSleep 0x%x)" % (self.secs(c.arg), c.object)
        if c.kind == WAIT_FD_READ:
            fd, send = c.arg if isinstance(c.arg, tuple) else (c.arg, False)
            how = {False: "readable", True: "writable", None: "ready"}[send]
            return "waits ? s for fd %s to be %s" % ("?" if fd is None else fd, how)
        if c.kind == WAIT_SCHEDULED:
            return "scheduled by %s, not run yet (waiting ? s)" % c.sched
        return ("yielded ? s ago in %s, no QEMU wait function on its stack "
                "(a lost wake-up if no one re-enters it)" % c.innermost)


class QemuCoroutines(gdb.Command):
    """Every coroutine of a QEMU on the qemucoro backend: address, state,
stack use, entry, and for a suspended one what it waits for."""

    def __init__(self):
        super().__init__("qemu coroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if qemu_layout().get("full"):
            gdb.execute("coroutine list")
            return
        hang = QemuHang()
        for co in hang.everything:
            use = "%d/%d" % (co.used, co.size) if co.used is not None else "-/%d" % co.size
            wait = ""
            if co.addr in hang.index and co.state == "suspended":
                wait = "  " + (hang.place(co).strip() + " " +
                               hang.describe(hang.index[co.addr])).strip()
            gdb.write("0x%x  %-30s stack %-16s entry %s%s\n"
                      % (co.addr, co.state, use, symbol_name(co.entry) if co.live else "-",
                         wait))


class QemuDeadlocks(gdb.Command):
    """CoMutex deadlock cycles among a QEMU's suspended coroutines, and waits
on locks no live coroutine holds (the words of `coroutine deadlocks`)."""

    def __init__(self):
        super().__init__("qemu deadlocks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if qemu_layout().get("full"):
            gdb.execute("coroutine deadlocks")
            return
        gdb.write("\n".join(QemuHang().problems()) + "\n")


try:
    gdb.execute("help qemu", to_string=True)
except gdb.error:
    QemuPrefix()
QemuCoroutine()
QemuBt()
QemuCoroutineSP()
QemuCoroutinePC()
QemuCoroutines()
QemuDeadlocks()
