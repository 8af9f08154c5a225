//! The aarch64 stack switch (AAPCS64), in assembly: the same contract as
//! arch/x86_64.rs (one routine that swaps stacks through a slot, the first
//! frame of a fresh stack, the initial-exec thread block); only the frame
//! differs.
//!
//! # The contract, as on x86_64
//!
//! `qemucoro_switch(slot: *mut usize, value: usize) -> usize`
//!
//! - `slot` holds a saved stack pointer. The switch stores the callee-saved
//!   registers and the link register (where `bl` left the return address)
//!   below the stack pointer, stores the resulting stack pointer into
//!   `*slot`, loads the one that was there, reloads that side's registers
//!   and leaves with `br x30`. One slot per fiber: while the fiber is
//!   suspended it holds the fiber's saved stack pointer, while it runs the
//!   stack pointer of whoever switched into it.
//! - `value` arrives on the other side in x0, as the return value of its
//!   own `qemucoro_switch` call (on a fresh stack, as the body's second
//!   argument).
//! - Saved, from the saved stack pointer upwards (160 bytes, so the stack
//!   pointer stays 16-byte aligned):
//!
//!   ```text
//!   sp+0    d8   d9         sp+64   x19  x20        sp+128  x27  x28
//!   sp+16   d10  d11        sp+80   x21  x22        sp+144  x29  x30 (resume address)
//!   sp+32   d12  d13        sp+96   x23  x24        sp+160  its stack pointer once resumed
//!   sp+48   d14  d15        sp+112  x25  x26
//!   ```
//!
//!   AAPCS64 makes x19-x29, sp and the low 64 bits of v8-v15 callee-saved;
//!   x18 (the platform register) is left alone, as Linux gives it no role.
//! - Clobbered: every caller-saved register (x0 returns `value`), the
//!   flags, and the upper halves of v8-v15 (caller-saved by the ABI too).
//! - Leaving with `br`, never `ret`: `ret` pops the return-stack predictor,
//!   whose entry is the other side's call and mispredicts on every switch;
//!   `br` goes through the indirect predictor, which learns the two targets
//!   the switch alternates between. (Under BTI enforcement a `br` to a
//!   return address would fault; nothing here is built BTI-marked, and the
//!   object carries no BTI property, so a linked program is not either.)
//! - FPCR (rounding mode, flush-to-zero) and FPSR are NOT saved: thread
//!   state, as MXCSR and the x87 control word on x86_64, and as with QEMU's
//!   own switch (sigsetjmp/siglongjmp keep neither).
//!
//! # A fresh stack
//!
//! `init_stack` lays out, at the top of a new stack, a saved frame as the
//! switch leaves it (x19 = body, x20 = arg, x30 = qemucoro_fiber_start,
//! everything else 0, x29 = 0 ending frame-pointer walks) below two words:
//!
//! ```text
//! top-8    address of the fiber's slot (read by the unwind info below)
//! top-16   0
//! top-176  the saved frame  <- initial sp
//! ```
//!
//! `qemucoro_fiber_start` runs with sp = top-16 (16-byte aligned) and calls
//! `body(arg, value)`, which never returns.
//!
//! # Unwinding
//!
//! The switch's CFI stays right after the stack pointer is swapped, as both
//! sides' frames have the same layout. `qemucoro_fiber_start`'s CFI names
//! whoever the slot names as its caller: CFA = *(*(sp + 8)) + 160, with x30
//! (the return address column), x29, x19-x28 and d8-d15 saved below the CFA
//! as in the table. While the fiber runs, that is the switch call that
//! entered it, so gdb, perf and libgcc's unwinder walk from a coroutine's
//! frames into its enterer's; while it is suspended the slot names its own
//! frame, so a walk of a suspended fiber stops at `qemucoro_fiber_start`.
//!
//! # The thread block
//!
//! `qemucoro_tls`, 64 bytes of initial-exec thread-local storage:
//! `thread_block()` adds the offset the GOT holds to `tpidr_el0`.

use std::arch::{asm, global_asm};
use std::ffi::c_void;

global_asm!(
    // The switch. x0 = slot, x1 = value.
    ".text",
    ".p2align 4",
    ".globl qemucoro_switch",
    ".hidden qemucoro_switch",
    ".type qemucoro_switch,%function",
    "qemucoro_switch:",
    ".cfi_startproc",
    "sub sp, sp, #160",
    ".cfi_def_cfa_offset 160",
    "stp d8, d9, [sp, #0]",
    "stp d10, d11, [sp, #16]",
    "stp d12, d13, [sp, #32]",
    "stp d14, d15, [sp, #48]",
    "stp x19, x20, [sp, #64]",
    "stp x21, x22, [sp, #80]",
    "stp x23, x24, [sp, #96]",
    "stp x25, x26, [sp, #112]",
    "stp x27, x28, [sp, #128]",
    "stp x29, x30, [sp, #144]",
    // Where each register sits below the CFA (DWARF 72-79 are d8-d15).
    ".cfi_offset 72, -160",
    ".cfi_offset 73, -152",
    ".cfi_offset 74, -144",
    ".cfi_offset 75, -136",
    ".cfi_offset 76, -128",
    ".cfi_offset 77, -120",
    ".cfi_offset 78, -112",
    ".cfi_offset 79, -104",
    ".cfi_offset x19, -96",
    ".cfi_offset x20, -88",
    ".cfi_offset x21, -80",
    ".cfi_offset x22, -72",
    ".cfi_offset x23, -64",
    ".cfi_offset x24, -56",
    ".cfi_offset x25, -48",
    ".cfi_offset x26, -40",
    ".cfi_offset x27, -32",
    ".cfi_offset x28, -24",
    ".cfi_offset x29, -16",
    ".cfi_offset x30, -8",
    "mov x9, sp",
    "ldr x10, [x0]",
    "str x9, [x0]",
    "mov sp, x10",
    "mov x0, x1",
    "ldp d8, d9, [sp, #0]",
    "ldp d10, d11, [sp, #16]",
    "ldp d12, d13, [sp, #32]",
    "ldp d14, d15, [sp, #48]",
    "ldp x19, x20, [sp, #64]",
    "ldp x21, x22, [sp, #80]",
    "ldp x23, x24, [sp, #96]",
    "ldp x25, x26, [sp, #112]",
    "ldp x27, x28, [sp, #128]",
    "ldp x29, x30, [sp, #144]",
    "add sp, sp, #160",
    ".cfi_def_cfa_offset 0",
    ".cfi_same_value 72",
    ".cfi_same_value 73",
    ".cfi_same_value 74",
    ".cfi_same_value 75",
    ".cfi_same_value 76",
    ".cfi_same_value 77",
    ".cfi_same_value 78",
    ".cfi_same_value 79",
    ".cfi_same_value x19",
    ".cfi_same_value x20",
    ".cfi_same_value x21",
    ".cfi_same_value x22",
    ".cfi_same_value x23",
    ".cfi_same_value x24",
    ".cfi_same_value x25",
    ".cfi_same_value x26",
    ".cfi_same_value x27",
    ".cfi_same_value x28",
    ".cfi_same_value x29",
    ".cfi_same_value x30",
    "br x30",
    ".cfi_endproc",
    ".size qemucoro_switch, .-qemucoro_switch",
    // The first frame of every fiber: x19 = body, x20 = arg, x0 = value.
    ".p2align 4",
    ".globl qemucoro_fiber_start",
    ".hidden qemucoro_fiber_start",
    ".type qemucoro_fiber_start,%function",
    "qemucoro_fiber_start:",
    ".cfi_startproc",
    // CFA = *(*(sp + 8)) + 160: DW_CFA_def_cfa_expression, 7 bytes:
    // DW_OP_breg31 (sp) 8, DW_OP_deref, DW_OP_deref,
    // DW_OP_plus_uconst 160 (ULEB128 0xa0 0x01).
    ".cfi_escape 0x0f, 7, 0x8f, 8, 0x06, 0x06, 0x23, 0xa0, 0x01",
    ".cfi_offset 72, -160",
    ".cfi_offset 73, -152",
    ".cfi_offset 74, -144",
    ".cfi_offset 75, -136",
    ".cfi_offset 76, -128",
    ".cfi_offset 77, -120",
    ".cfi_offset 78, -112",
    ".cfi_offset 79, -104",
    ".cfi_offset x19, -96",
    ".cfi_offset x20, -88",
    ".cfi_offset x21, -80",
    ".cfi_offset x22, -72",
    ".cfi_offset x23, -64",
    ".cfi_offset x24, -56",
    ".cfi_offset x25, -48",
    ".cfi_offset x26, -40",
    ".cfi_offset x27, -32",
    ".cfi_offset x28, -24",
    ".cfi_offset x29, -16",
    ".cfi_offset x30, -8",
    "mov x1, x0",
    "mov x0, x20",
    "blr x19",
    "brk #1",
    ".cfi_endproc",
    ".size qemucoro_fiber_start, .-qemucoro_fiber_start",
    // The thread block (see the module comment).
    ".section .tbss,\"awT\",%nobits",
    ".p2align 6",
    ".globl qemucoro_tls",
    ".hidden qemucoro_tls",
    ".type qemucoro_tls,%object",
    ".size qemucoro_tls, 64",
    "qemucoro_tls:",
    ".zero 64",
    ".text",
);

extern "C" {
    /// See the module comment.
    pub fn qemucoro_switch(slot: *mut usize, value: usize) -> usize;
    fn qemucoro_fiber_start();
}

/// Calls the switch (see `switch::switch`): `bl` is direct on aarch64,
/// whichever crate calls.
///
/// # Safety
/// As `qemucoro_switch`.
#[inline(always)]
pub unsafe fn call_switch(slot: *mut usize, value: usize) -> usize {
    // SAFETY: per the contract.
    unsafe { qemucoro_switch(slot, value) }
}

/// Brings `qemucoro_switch` into the calling crate (see x86_64.rs): on
/// aarch64 a branch to another crate's function is direct already (`b`,
/// `bl`), so the one definition serves every crate.
#[macro_export]
macro_rules! define_switch {
    () => {
        pub(crate) use $crate::arch::qemucoro_switch;
    };
}

/// Bytes of `qemucoro_tls`.
pub const THREAD_BLOCK_SIZE: usize = 64;

/// The body a fresh stack runs: `body(arg, value of the first switch)`.
pub type StartFn = unsafe extern "C" fn(arg: *mut c_void, value: usize) -> !;

/// Bytes `init_stack` writes below `top`.
const START_FRAME: usize = 176;

/// Writes the start frame at the top of a fresh stack (16-byte aligned
/// `top`) and returns the stack pointer to store in `slot`: the first
/// switch into `slot` then calls `body(arg, value)`.
///
/// # Safety
/// `[top - 176, top)` is writable memory of a stack nothing runs on, and
/// `slot` stays where it is for as long as the stack is in use.
pub unsafe fn init_stack(top: usize, slot: *const usize, body: StartFn, arg: *mut c_void) -> usize {
    debug_assert_eq!(top % 16, 0);
    let mut frame = [0usize; START_FRAME / 8];
    frame[8] = body as usize; // x19
    frame[9] = arg as usize; // x20
    frame[19] = qemucoro_fiber_start as *const () as usize; // x30: where the first switch lands
    frame[21] = slot as usize; // top-8, for the unwind info
    let sp = top - START_FRAME;
    // SAFETY: per the contract the 176 bytes below `top` are ours.
    unsafe { (sp as *mut [usize; START_FRAME / 8]).write(frame) };
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
    // SAFETY: reads the thread pointer and a GOT entry; writes only `p`
    // and a scratch register.
    unsafe {
        asm!(
            "mrs {p}, tpidr_el0",
            "adrp {t}, :gottprel:qemucoro_tls",
            "ldr {t}, [{t}, #:gottprel_lo12:qemucoro_tls]",
            "add {p}, {p}, {t}",
            p = out(reg) p,
            t = out(reg) _,
            options(nostack, readonly),
        );
    }
    p
}

/// The body of a C entry point `fn(co)` that runs `$begin(co)`, which
/// switches into a coroutine and comes back with its action in w0 (no
/// `ret` crosses the switch), then `$end(co, action)`, and leaves with `br
/// x30`, never `ret`. `co` stays in x19 across the calls; the stub keeps a
/// frame record (x29, x30) as the compiled code around it does, for
/// frame-pointer walks. The C function's signature stays in the product
/// crate (cbindgen reads it there). (`qemu_coroutine_enter`.)
#[macro_export]
macro_rules! enter_stub {
    ($begin:path, $end:path) => {
        ::std::arch::naked_asm!(
            ".cfi_startproc",
            "stp x29, x30, [sp, #-32]!",
            ".cfi_def_cfa_offset 32",
            ".cfi_offset x29, -32",
            ".cfi_offset x30, -24",
            "str x19, [sp, #16]",
            ".cfi_offset x19, -16",
            "mov x29, sp",
            "mov x19, x0",
            "bl {begin}",
            "mov w1, w0",
            "mov x0, x19",
            "bl {end}",
            "ldr x19, [sp, #16]",
            ".cfi_restore x19",
            "ldp x29, x30, [sp], #32",
            ".cfi_def_cfa_offset 0",
            ".cfi_restore x29",
            ".cfi_restore x30",
            "br x30",
            ".cfi_endproc",
            begin = sym $begin,
            end = sym $end,
        )
    };
}
