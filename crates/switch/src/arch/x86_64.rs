//! The x86_64 stack switch (System V ABI), in assembly: one routine that
//! swaps stacks (a naked Rust function, so that Rust code reaches it with a
//! direct call or tail jump even in the shared library), the first frame
//! of a fresh stack, and the thread block the hot paths reach with the
//! initial-exec TLS model.
//!
//! # The contract (an aarch64 port implements the same one)
//!
//! `qemucoro_switch(slot: *mut usize, value: usize) -> usize`
//!
//! - `slot` holds a saved stack pointer. The switch pushes the callee-saved
//!   registers and the return address stays where `call` put it, stores the
//!   resulting stack pointer into `*slot`, loads the stack pointer that was
//!   there, pops that side's registers and leaves with `pop rcx; jmp rcx`.
//!   So one slot per fiber is enough: while the fiber is suspended it holds
//!   the fiber's own saved stack pointer; while it runs it holds the stack
//!   pointer of whoever switched into it. Entering and leaving are the same
//!   call on the same slot.
//! - `value` arrives on the other side as the return value of its own
//!   `qemucoro_switch` call (or, on a fresh stack, as the second argument of
//!   the fiber's body).
//! - Saved, in this order from the saved stack pointer upwards:
//!
//!   ```text
//!   sp+0   r15        sp+32  rbx
//!   sp+8   r14        sp+40  rbp
//!   sp+16  r13        sp+48  return address: where the side resumes
//!   sp+24  r12        sp+56  its stack pointer once resumed
//!   ```
//!
//!   gdb/qemucoro.py reads exactly this frame to show a suspended
//!   coroutine's backtrace.
//! - Clobbered: every caller-saved register (rax returns `value`; rcx holds
//!   the resume address). Flags, the direction flag (clear by the ABI on
//!   both sides) and the vector registers are caller-saved or unchanged.
//! - Leaving with `jmp`, never `ret`: a `ret` into the other stack returns
//!   through a frame the return-stack predictor never saw and mispredicts on
//!   every switch; an indirect jump is predicted from its history, which
//!   alternates between the same two places.
//! - MXCSR and the x87 control word are NOT saved: they are thread state,
//!   as with QEMU's own switch (sigsetjmp/siglongjmp keep neither), and a
//!   coroutine that changes rounding or exception masks changes them for
//!   whatever runs next on that thread. Boost.Context saves both, which
//!   costs a `stmxcsr`/`fnstcw`/`ldmxcsr`/`fldcw` on every switch.
//!
//! # A fresh stack
//!
//! `init_stack` lays out, at the top of a new stack:
//!
//! ```text
//! top-8    address of the fiber's slot (read by the unwind info below)
//! top-16   0 (the start frame's "return address": the stack ends here)
//! top-24   qemucoro_fiber_start  \
//! top-32   rbp = 0                |  a saved frame as the switch
//! top-40   rbx = 0                |  leaves it: the first switch into
//! top-48   r12 = body             |  the slot pops these and jumps to
//! top-56   r13 = arg              |  qemucoro_fiber_start
//! top-64   r14 = 0                |
//! top-72   r15 = 0  <- initial sp /
//! ```
//!
//! `qemucoro_fiber_start` runs with rsp = top-16 (16-byte aligned, as a call
//! needs) and calls `body(arg, value)`, which never returns.
//!
//! # Unwinding
//!
//! The switch's own CFI tracks its pushes and pops; since both sides' saved
//! frames have the same layout, it stays right after the stack pointer is
//! swapped. `qemucoro_fiber_start`'s CFI says its caller is whoever the slot
//! names: CFA = *(*(rsp + 8)) + 56, with rip, rbp, rbx and r12-r15 saved
//! below the CFA as in the table above. While the fiber runs, that is the
//! frame of the switch call that entered it, so gdb, perf and libgcc's
//! unwinder walk from a coroutine's frames straight into its enterer's
//! (`qemu_coroutine_enter` and on up). While the fiber is suspended the slot
//! names its own frame, so a walk of a suspended fiber must stop at
//! `qemucoro_fiber_start` (gdb/qemucoro.py does).
//!
//! # The thread block
//!
//! `qemucoro_tls` is 64 bytes of thread-local storage declared here so that
//! it can use the initial-exec model in the shared library too (Rust's
//! `thread_local!` there is general-dynamic: a call to `__tls_get_addr` per
//! access). `thread_block()` returns its address from `%fs:0` plus the
//! offset the dynamic linker put in the GOT; in an executable the linker
//! rewrites that GOT load into a constant.

use std::arch::{asm, global_asm};
use std::ffi::c_void;

global_asm!(
    // The first frame of every fiber: r12 = body, r13 = arg, rax = value.
    ".p2align 4",
    ".globl qemucoro_fiber_start",
    ".hidden qemucoro_fiber_start",
    ".type qemucoro_fiber_start,@function",
    "qemucoro_fiber_start:",
    ".cfi_startproc",
    // CFA = *(*(rsp + 8)) + 56: DW_CFA_def_cfa_expression, 6 bytes:
    // DW_OP_breg7 (rsp) 8, DW_OP_deref, DW_OP_deref, DW_OP_plus_uconst 56.
    ".cfi_escape 0x0f, 6, 0x77, 8, 0x06, 0x06, 0x23, 56",
    ".cfi_offset rip, -8",
    ".cfi_offset rbp, -16",
    ".cfi_offset rbx, -24",
    ".cfi_offset r12, -32",
    ".cfi_offset r13, -40",
    ".cfi_offset r14, -48",
    ".cfi_offset r15, -56",
    "mov rdi, r13",
    "mov rsi, rax",
    "call r12",
    "ud2",
    ".cfi_endproc",
    ".size qemucoro_fiber_start, .-qemucoro_fiber_start",
    // The thread block (see the module comment).
    ".section .tbss,\"awT\",@nobits",
    ".p2align 6",
    ".globl qemucoro_tls",
    ".hidden qemucoro_tls",
    ".type qemucoro_tls,@object",
    ".size qemucoro_tls, 64",
    "qemucoro_tls:",
    ".zero 64",
    ".text",
);

extern "C" {
    fn qemucoro_fiber_start();
}

/// See the module comment. Rust code in another crate reaches it with a
/// direct call through `call_switch` (assembly naming it); a crate whose
/// Rust code tail-jumps into the switch compiles its own copy with
/// `define_switch!`.
///
/// # Safety
/// `*slot` holds a suspended context (made by `init_stack` or saved by
/// this switch), and the running side is only resumed through `*slot`.
#[unsafe(naked)]
#[link_section = ".text.hot.qemucoro"]
pub unsafe extern "C" fn qemucoro_switch(slot: *mut usize, value: usize) -> usize {
    crate::switch_body!()
}

/// How the switch and the stubs below leave, as one template string: the
/// return address popped and jumped to, never `ret` (see the module
/// comment), and the end of the function's unwind information.
#[doc(hidden)]
#[macro_export]
macro_rules! leave_by_jmp {
    () => {
        concat!(
            "pop rcx\n",
            ".cfi_adjust_cfa_offset -8\n",
            ".cfi_register rip, rcx\n",
            "jmp rcx\n",
            ".cfi_endproc",
        )
    };
}

/// The switch's instructions, for `qemucoro_switch` and `define_switch!`.
#[doc(hidden)]
#[macro_export]
macro_rules! switch_body {
    () => {
        ::std::arch::naked_asm!(
            ".cfi_startproc",
            "push rbp",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset rbp, 0",
            "push rbx",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset rbx, 0",
            "push r12",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r12, 0",
            "push r13",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r13, 0",
            "push r14",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r14, 0",
            "push r15",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_rel_offset r15, 0",
            "mov rax, rsi",
            "mov rcx, rsp",
            "mov rsp, [rdi]",
            "mov [rdi], rcx",
            "pop r15",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore r15",
            "pop r14",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore r14",
            "pop r13",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore r13",
            "pop r12",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore r12",
            "pop rbx",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore rbx",
            "pop rbp",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore rbp",
            $crate::leave_by_jmp!(),
        )
    };
}

/// Defines `qemucoro_switch` in the calling crate, the same switch as
/// `arch::qemucoro_switch`. For the crates whose Rust code tail-jumps into
/// the switch (the products' C entry points): a Rust tail call into
/// another crate's function goes through the GOT in PIC code, an indirect
/// jump on every switch; into a function of its own crate it is a direct
/// `jmp`. (`rustc` has no stable way to mark another crate's function
/// local.)
#[macro_export]
macro_rules! define_switch {
    () => {
        /// The stack switch (qemucoro_switch::arch), compiled into this
        /// crate so that its tail calls into it are direct.
        ///
        /// # Safety
        /// As `qemucoro_switch::arch::qemucoro_switch`.
        #[unsafe(naked)]
        #[link_section = ".text.hot.qemucoro"]
        pub(crate) unsafe extern "C" fn qemucoro_switch(slot: *mut usize, value: usize) -> usize {
            $crate::switch_body!()
        }
    };
}

/// Calls the switch (see `switch::switch`): a direct call from whichever
/// crate this is inlined into.
///
/// # Safety
/// As `qemucoro_switch`.
#[inline(always)]
pub unsafe fn call_switch(slot: *mut usize, value: usize) -> usize {
    let back: usize;
    // SAFETY: per the contract. The switch keeps the callee-saved registers
    // (they are saved on the stack it leaves and restored when it comes
    // back) and clobbers the rest, which `clobber_abi` tells the compiler;
    // without `nostack` the stack is aligned for the call.
    unsafe {
        std::arch::asm!(
            "call {switch}",
            switch = sym qemucoro_switch,
            inout("rdi") slot => _,
            inout("rsi") value => _,
            lateout("rax") back,
            clobber_abi("C"),
        )
    };
    back
}

/// Bytes of `qemucoro_tls`.
pub const THREAD_BLOCK_SIZE: usize = 64;

/// The body a fresh stack runs: `body(arg, value of the first switch)`.
pub type StartFn = unsafe extern "C" fn(arg: *mut c_void, value: usize) -> !;

/// Writes the start frame at the top of a fresh stack (16-byte aligned
/// `top`) and returns the stack pointer to store in `slot`: the first
/// switch into `slot` then calls `body(arg, value)`.
///
/// # Safety
/// `[top - 72, top)` is writable memory of a stack nothing runs on, and
/// `slot` stays where it is for as long as the stack is in use.
pub unsafe fn init_stack(top: usize, slot: *const usize, body: StartFn, arg: *mut c_void) -> usize {
    debug_assert_eq!(top % 16, 0);
    let frame: [usize; 9] = [
        0,                                          // r15
        0,                                          // r14
        arg as usize,                               // r13
        body as usize,                              // r12
        0,                                          // rbx
        0,                                          // rbp
        qemucoro_fiber_start as *const () as usize, // where the first switch lands
        0,                                          // the start frame's return address
        slot as usize,                              // for the unwind info
    ];
    let sp = top - 8 * frame.len();
    // SAFETY: per the contract the 72 bytes below `top` are ours.
    unsafe { (sp as *mut [usize; 9]).write(frame) };
    sp
}

/// The address of this thread's `qemucoro_tls`.
///
/// The asm has side effects as far as the compiler knows, so it runs at
/// every call and its result is never reused across a switch: a coroutine
/// that moved to another thread gets that thread's block.
#[inline(always)]
pub fn thread_block() -> *mut u8 {
    let p: *mut u8;
    // SAFETY: reads the thread pointer and a GOT entry; writes only `p`.
    unsafe {
        asm!(
            "mov {p}, qword ptr fs:[0]",
            "add {p}, qword ptr [rip + qemucoro_tls@GOTTPOFF]",
            p = out(reg) p,
            options(nostack, readonly),
        );
    }
    p
}

// The products' assembly entry points, as macros that expand to the body
// of a naked C function: the function's signature stays in the product
// crate (cbindgen reads it there), the instructions live here. Each
// leaves with `pop rcx; jmp rcx`, never `ret` (see the module comment).

/// A C entry point `fn(co)` that runs `$begin(co)`, which switches into a
/// coroutine and comes back with its action in eax (no `ret` crosses the
/// switch), then `$end(co, action)`. (`qemu_coroutine_enter`.)
#[macro_export]
macro_rules! enter_stub {
    ($begin:path, $end:path) => {
        ::std::arch::naked_asm!(
            ".cfi_startproc",
            "push rbx",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_offset rbx, -16",
            "mov rbx, rdi",
            "call {begin}",
            "mov rdi, rbx",
            "mov esi, eax",
            "call {end}",
            "pop rbx",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore rbx",
            $crate::leave_by_jmp!(),
            begin = sym $begin,
            end = sym $end,
        )
    };
}

/// A C entry point `fn()` that switches on the slot `$begin()` returns,
/// passing `$value`, then runs `$end()` once switched back: the sanitizer
/// build's `qemu_coroutine_yield`, whose hooks run after the switch.
#[macro_export]
macro_rules! yield_stub {
    ($begin:path, $switch:path, $end:path, $value:expr) => {
        ::std::arch::naked_asm!(
            ".cfi_startproc",
            "push rax",
            ".cfi_adjust_cfa_offset 8",
            "call {begin}",
            "mov rdi, rax",
            "mov esi, {value}",
            "call {switch}",
            "call {end}",
            "pop rcx",
            ".cfi_adjust_cfa_offset -8",
            $crate::leave_by_jmp!(),
            begin = sym $begin,
            end = sym $end,
            switch = sym $switch,
            value = const $value,
        )
    };
}

/// A C entry point `fn(from, to, action: int) -> int` that switches on the
/// slot `$begin(from, to, action)` returns, passing `action`, then
/// returns `$end(from, to, action, back)` with what the switch back
/// brought: the sanitizer build's QEMU `qemu_coroutine_switch`.
#[macro_export]
macro_rules! switch_stub {
    ($begin:path, $switch:path, $end:path) => {
        ::std::arch::naked_asm!(
            ".cfi_startproc",
            "push rbx",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_offset rbx, -16",
            "push r12",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_offset r12, -24",
            "push r13",
            ".cfi_adjust_cfa_offset 8",
            ".cfi_offset r13, -32",
            "mov r12, rdi",
            "mov r13, rsi",
            "mov ebx, edx",
            "call {begin}",
            "mov rdi, rax",
            "mov esi, ebx",
            "call {switch}",
            "mov ecx, eax",
            "mov rdi, r12",
            "mov rsi, r13",
            "mov edx, ebx",
            "call {end}",
            "pop r13",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore r13",
            "pop r12",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore r12",
            "pop rbx",
            ".cfi_adjust_cfa_offset -8",
            ".cfi_restore rbx",
            $crate::leave_by_jmp!(),
            begin = sym $begin,
            end = sym $end,
            switch = sym $switch,
        )
    };
}
