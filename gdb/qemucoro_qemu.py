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
#
# Loaded by gdb/qemucoro.py (`source gdb/qemucoro.py`, after QEMU's
# scripts/qemu-gdb.py if both are wanted: these replace its two commands).
# Works on a live process and on a core: everything is read from memory,
# starting at `qemucoro_qemu_gdb_layout` (src/qemu_backend/mod.rs) and this
# thread's current coroutine, the first word of the switch's thread block
# `qemucoro_tls`, found through the executable's ELF symbol table (the
# backend's symbols are local).
#
# Where a coroutine's registers are, with our switch (the frame is drawn in
# src/switch/arch/x86_64.rs): each fiber has one slot (`sp` in the layout)
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

from __main__ import arch, read_layout, read_word, symbol_address, backtrace_from

QEMU_LAYOUT_FIELDS = ("version", "caller", "stack_bottom", "stack_size", "sp")
QEMU_LAYOUT_VERSION = 2
CURRENT_SYMBOL = b"qemucoro_tls"
PT_TLS = 7
STT_TLS = 6


def qemu_layout():
    try:
        symbol_address("qemucoro_qemu_gdb_layout")
    except gdb.error:
        raise gdb.GdbError("not a QEMU built with the qemucoro backend "
                           "(no qemucoro_qemu_gdb_layout)")
    return read_layout("qemucoro_qemu_gdb_layout", QEMU_LAYOUT_FIELDS, QEMU_LAYOUT_VERSION)


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


try:
    gdb.execute("help qemu", to_string=True)
except gdb.error:
    QemuPrefix()
QemuCoroutine()
QemuBt()
QemuCoroutineSP()
QemuCoroutinePC()
