//! The bare aarch64 switch on its own (crates/switch/src/arch/aarch64.rs, built
//! into this program by path), run by `make check-aarch64` under
//! qemu-aarch64: a round trip through a fresh stack, every callee-saved
//! register kept across a switch whose other side clobbers them all, an
//! unwind from inside a fiber into its enterer, and the thread block.
//! Ends with "N passed, N failed".
#![allow(dead_code)]

#[path = "../crates/switch/src/arch/aarch64.rs"]
mod arch;

use std::cell::Cell;
use std::ffi::c_void;
use std::hint::black_box;

use arch::{init_stack, qemucoro_switch, thread_block, THREAD_BLOCK_SIZE};

std::arch::global_asm!(
    // switch_keeps(slot) -> mismatches: loads a pattern into x19-x29 and
    // d8-d15, switches to `slot` (whose side clobbers them all) and counts
    // the registers that came back different. Saves what it uses, as a
    // callee must.
    ".text",
    ".p2align 4",
    "switch_keeps:",
    "stp x29, x30, [sp, #-96]!",
    "stp x19, x20, [sp, #16]",
    "stp x21, x22, [sp, #32]",
    "stp x23, x24, [sp, #48]",
    "stp x25, x26, [sp, #64]",
    "stp x27, x28, [sp, #80]",
    "stp d8, d9, [sp, #-64]!",
    "stp d10, d11, [sp, #16]",
    "stp d12, d13, [sp, #32]",
    "stp d14, d15, [sp, #48]",
    "mov x19, #0x1901", "mov x20, #0x2002", "mov x21, #0x2103",
    "mov x22, #0x2204", "mov x23, #0x2305", "mov x24, #0x2406",
    "mov x25, #0x2507", "mov x26, #0x2608", "mov x27, #0x2709",
    "mov x28, #0x280a", "mov x29, #0x290b",
    "fmov d8, x19", "fmov d9, x20", "fmov d10, x21", "fmov d11, x22",
    "fmov d12, x23", "fmov d13, x24", "fmov d14, x25", "fmov d15, x26",
    "mov x1, #0",
    "bl qemucoro_switch",
    "mov x0, #0",
    "mov x9, #0x1901", "cmp x19, x9", "cinc x0, x0, ne",
    "mov x9, #0x2002", "cmp x20, x9", "cinc x0, x0, ne",
    "mov x9, #0x2103", "cmp x21, x9", "cinc x0, x0, ne",
    "mov x9, #0x2204", "cmp x22, x9", "cinc x0, x0, ne",
    "mov x9, #0x2305", "cmp x23, x9", "cinc x0, x0, ne",
    "mov x9, #0x2406", "cmp x24, x9", "cinc x0, x0, ne",
    "mov x9, #0x2507", "cmp x25, x9", "cinc x0, x0, ne",
    "mov x9, #0x2608", "cmp x26, x9", "cinc x0, x0, ne",
    "mov x9, #0x2709", "cmp x27, x9", "cinc x0, x0, ne",
    "mov x9, #0x280a", "cmp x28, x9", "cinc x0, x0, ne",
    "mov x9, #0x290b", "cmp x29, x9", "cinc x0, x0, ne",
    "fmov x9, d8", "cmp x9, x19", "cinc x0, x0, ne",
    "fmov x9, d9", "cmp x9, x20", "cinc x0, x0, ne",
    "fmov x9, d10", "cmp x9, x21", "cinc x0, x0, ne",
    "fmov x9, d11", "cmp x9, x22", "cinc x0, x0, ne",
    "fmov x9, d12", "cmp x9, x23", "cinc x0, x0, ne",
    "fmov x9, d13", "cmp x9, x24", "cinc x0, x0, ne",
    "fmov x9, d14", "cmp x9, x25", "cinc x0, x0, ne",
    "fmov x9, d15", "cmp x9, x26", "cinc x0, x0, ne",
    "ldp d10, d11, [sp, #16]",
    "ldp d12, d13, [sp, #32]",
    "ldp d14, d15, [sp, #48]",
    "ldp d8, d9, [sp], #64",
    "ldp x19, x20, [sp, #16]",
    "ldp x21, x22, [sp, #32]",
    "ldp x23, x24, [sp, #48]",
    "ldp x25, x26, [sp, #64]",
    "ldp x27, x28, [sp, #80]",
    "ldp x29, x30, [sp], #96",
    "ret",
    // clobber_and_switch(slot, value): the other side, which writes junk
    // into every callee-saved register before switching back.
    ".p2align 4",
    "clobber_and_switch:",
    "stp x29, x30, [sp, #-96]!",
    "stp x19, x20, [sp, #16]",
    "stp x21, x22, [sp, #32]",
    "stp x23, x24, [sp, #48]",
    "stp x25, x26, [sp, #64]",
    "stp x27, x28, [sp, #80]",
    "stp d8, d9, [sp, #-64]!",
    "stp d10, d11, [sp, #16]",
    "stp d12, d13, [sp, #32]",
    "stp d14, d15, [sp, #48]",
    "mov x19, #-1", "mov x20, #-1", "mov x21, #-1", "mov x22, #-1",
    "mov x23, #-1", "mov x24, #-1", "mov x25, #-1", "mov x26, #-1",
    "mov x27, #-1", "mov x28, #-1", "mov x29, #-1",
    "movi v8.2d, #0xffffffffffffffff", "movi v9.2d, #0xffffffffffffffff",
    "movi v10.2d, #0xffffffffffffffff", "movi v11.2d, #0xffffffffffffffff",
    "movi v12.2d, #0xffffffffffffffff", "movi v13.2d, #0xffffffffffffffff",
    "movi v14.2d, #0xffffffffffffffff", "movi v15.2d, #0xffffffffffffffff",
    "bl qemucoro_switch",
    "ldp d10, d11, [sp, #16]",
    "ldp d12, d13, [sp, #32]",
    "ldp d14, d15, [sp, #48]",
    "ldp d8, d9, [sp], #64",
    "ldp x19, x20, [sp, #16]",
    "ldp x21, x22, [sp, #32]",
    "ldp x23, x24, [sp, #48]",
    "ldp x25, x26, [sp, #64]",
    "ldp x27, x28, [sp, #80]",
    "ldp x29, x30, [sp], #96",
    "ret",
);

extern "C" {
    fn switch_keeps(slot: *mut usize) -> usize;
    fn clobber_and_switch(slot: *mut usize, value: usize) -> usize;
}

const STACK_SIZE: usize = 256 * 1024;

/// A bare fiber: a slot and a stack (16-byte aligned words).
struct Bare {
    slot: Cell<usize>,
    stack: Vec<u128>,
    /// What the body records for the checks.
    seen: Cell<usize>,
    backtrace: Cell<Option<String>>,
}

impl Bare {
    fn new(body: arch::StartFn) -> Box<Bare> {
        let bare = Box::new(Bare {
            slot: Cell::new(0),
            stack: vec![0u128; STACK_SIZE / 16],
            seen: Cell::new(0),
            backtrace: Cell::new(None),
        });
        let top = bare.stack.as_ptr() as usize + STACK_SIZE;
        let arg = std::ptr::from_ref(&*bare).cast_mut().cast();
        // SAFETY: a fresh stack nothing runs on; the Box keeps `slot` in place.
        bare.slot.set(unsafe { init_stack(top, bare.slot.as_ptr(), body, arg) });
        bare
    }

    fn switch(&self, value: usize) -> usize {
        // SAFETY: the fiber is fresh or suspended in its own switch call.
        unsafe { qemucoro_switch(self.slot.as_ptr(), value) }
    }
}

/// Yields back `arg`'s address once, then value + 1 for every value sent.
unsafe extern "C" fn echo_body(arg: *mut c_void, first: usize) -> ! {
    // SAFETY: arg is the Bare the fiber runs for.
    let bare = unsafe { &*arg.cast::<Bare>() };
    let mut value = bare.switch(first ^ arg as usize);
    loop {
        value = bare.switch(value + 1);
    }
}

fn round_trip_passes_values() -> bool {
    let bare = Bare::new(echo_body);
    let me = std::ptr::from_ref(&*bare) as usize;
    let mut ok = bare.switch(0x5a) == 0x5a ^ me;
    for i in 0..100_000 {
        ok &= black_box(bare.switch(i)) == i + 1;
    }
    ok
}

unsafe extern "C" fn clobber_body(arg: *mut c_void, _first: usize) -> ! {
    let bare = arg.cast::<Bare>();
    loop {
        // SAFETY: this fiber runs on bare's stack; its slot names the resumer.
        unsafe { clobber_and_switch((*bare).slot.as_ptr(), 0) };
    }
}

fn callee_saved_survive() -> bool {
    let bare = Bare::new(clobber_body);
    // The first switch starts the fiber, the second resumes it mid-switch.
    // SAFETY: switch_keeps is a well-behaved function around one switch.
    (0..2).all(|_| unsafe { switch_keeps(bare.slot.as_ptr()) } == 0)
}

/// Records a backtrace taken inside the fiber, then parks.
unsafe extern "C" fn backtrace_body(arg: *mut c_void, _first: usize) -> ! {
    // SAFETY: arg is the Bare the fiber runs for.
    let bare = unsafe { &*arg.cast::<Bare>() };
    let bt = std::backtrace::Backtrace::force_capture();
    bare.backtrace.set(Some(format!("{bt}")));
    loop {
        bare.switch(0);
    }
}

#[inline(never)]
fn enterer_of_the_fiber(bare: &Bare) {
    black_box(bare.switch(0));
}

/// libgcc's unwinder, from inside the fiber: through qemucoro_fiber_start
/// into the function that entered it and on to main.
fn unwinds_into_enterer() -> bool {
    let bare = Bare::new(backtrace_body);
    enterer_of_the_fiber(&bare);
    let bt = bare.backtrace.take().unwrap_or_default();
    let ok = ["backtrace_body", "qemucoro_fiber_start", "enterer_of_the_fiber", "unwinds_into_enterer", "main"]
        .iter()
        .all(|f| bt.contains(f));
    if !ok {
        eprintln!("    backtrace from inside the fiber:\n{bt}");
    }
    ok
}

fn thread_block_is_the_tls_block() -> bool {
    let p = thread_block();
    let aligned = p as usize % 64 == 0;
    // SAFETY: THREAD_BLOCK_SIZE bytes of this thread's TLS.
    let zeroed = unsafe { std::slice::from_raw_parts(p, THREAD_BLOCK_SIZE) }.iter().all(|&b| b == 0);
    // SAFETY: as above.
    unsafe { p.add(THREAD_BLOCK_SIZE - 1).write(7) };
    !p.is_null() && aligned && zeroed && thread_block() == p
}

fn main() {
    let tests: [(&str, fn() -> bool); 4] = [
        ("/switch/aarch64/round-trip-passes-values", round_trip_passes_values),
        ("/switch/aarch64/callee-saved-survive", callee_saved_survive),
        ("/switch/aarch64/unwinds-into-enterer", unwinds_into_enterer),
        ("/switch/aarch64/thread-block", thread_block_is_the_tls_block),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        let ok = test();
        failed += usize::from(!ok);
        println!("{} {name}", if ok { "ok  " } else { "FAIL" });
    }
    println!("{} passed, {failed} failed", tests.len() - failed);
    std::process::exit(i32::from(failed != 0));
}
