//! The raw switch floor, for `make bench` only (feature `bench-floor`): a
//! resume+suspend round trip straight through corosensei, and through the
//! `context` crate (Boost.Context's fcontext), with none of the API around
//! them. The benchmark prints these beside the public API's figures.

use std::hint::black_box;
use std::time::Instant;

use context::stack::ProtectedFixedSizeStack;
use context::{Context, Transfer};
use corosensei::Coroutine;

use crate::switch::stack::{Stack, DEFAULT_STACK_SIZE};

type Floor = Coroutine<u64, u64, (), Stack>;

/// Times `iters` calls of `resume` on `co`, a coroutine that suspends in a
/// loop; generic so that each variant compiles to its own direct calls.
fn time_round_trips(mut co: Floor, iters: u64, resume: impl Fn(&mut Floor, u64) -> u64) -> f64 {
    co.resume(0);
    let start = Instant::now();
    for i in 0..iters {
        black_box(resume(&mut co, i));
    }
    let ns = start.elapsed().as_nanos() as f64 / iters as f64;
    // SAFETY: the closure holds no values with Drop code on its stack.
    unsafe { co.force_reset() };
    ns
}

fn suspending_inline() -> Floor {
    Coroutine::with_stack(Stack::new(DEFAULT_STACK_SIZE), |y, mut v| loop {
        v = y.suspend(black_box(v));
    })
}

fn suspending_nested() -> Floor {
    Coroutine::with_stack(Stack::new(DEFAULT_STACK_SIZE), |y, mut v| loop {
        v = suspend_nested(y, v);
    })
}

#[inline(always)]
fn resume_inline(co: &mut Floor, v: u64) -> u64 {
    co.resume(black_box(v)).as_yield().unwrap_or(0)
}

#[inline(never)]
fn resume_nested(co: &mut Floor, v: u64) -> u64 {
    co.resume(black_box(v)).as_yield().unwrap_or(0)
}

#[inline(never)]
fn suspend_nested(y: &corosensei::Yielder<u64, u64>, v: u64) -> u64 {
    y.suspend(black_box(v))
}

/// Nanoseconds per corosensei resume+suspend round trip, over `iters`,
/// the suspend inlined into the coroutine's loop.
#[no_mangle]
pub extern "C" fn qemucoro_bench_floor_corosensei(iters: u64) -> f64 {
    time_round_trips(suspending_inline(), iters, resume_inline)
}

/// Nanoseconds per corosensei round trip when, as through any C API, the
/// suspend sits one call below the coroutine's loop.
#[no_mangle]
pub extern "C" fn qemucoro_bench_floor_corosensei_nested(iters: u64) -> f64 {
    time_round_trips(suspending_nested(), iters, resume_inline)
}

/// As `..._nested`, with the resume also one call deep, as `enter` is.
#[no_mangle]
pub extern "C" fn qemucoro_bench_floor_corosensei_nested2(iters: u64) -> f64 {
    time_round_trips(suspending_nested(), iters, resume_nested)
}

extern "C" fn bounce(mut t: Transfer) -> ! {
    loop {
        // SAFETY: t.context is the resumer's live context, resumed once.
        t = unsafe { t.context.resume(black_box(t.data)) };
    }
}

/// Nanoseconds per `context` resume round trip, over `iters`.
#[no_mangle]
pub extern "C" fn qemucoro_bench_floor_context(iters: u64) -> f64 {
    let stack = ProtectedFixedSizeStack::new(DEFAULT_STACK_SIZE).expect("a 1 MiB stack");
    // SAFETY: `stack` outlives every resume below, and `bounce` never returns.
    let mut t = unsafe { Transfer::new(Context::new(&stack, bounce), 0) };
    let start = Instant::now();
    for i in 0..iters {
        // SAFETY: t.context is the suspended `bounce`, resumed exactly once.
        t = unsafe { t.context.resume(i as usize) };
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

// --- Our own switch (switch/arch): jmp-based, ret-based, and with QEMU's checks ---

use std::cell::Cell;
use std::ffi::c_void;

use crate::switch::arch::{self, qemucoro_switch};

std::arch::global_asm!(
    // qemucoro_switch, but leaving with `ret`: the floor of a ret-based switch.
    ".text",
    ".p2align 4",
    ".hidden qemucoro_floor_switch_ret",
    ".globl qemucoro_floor_switch_ret",
    "qemucoro_floor_switch_ret:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov rax, rsi",
    "mov rcx, rsp",
    "mov rsp, [rdi]",
    "mov [rdi], rcx",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
);

extern "C" {
    fn qemucoro_floor_switch_ret(slot: *mut usize, value: usize) -> usize;
}

type SwitchFn = unsafe extern "C" fn(*mut usize, usize) -> usize;

/// A bare fiber for the floors: a slot and a stack.
struct Bare {
    slot: Cell<usize>,
    _stack: Stack,
}

/// The floor fibers' body: `arg` is the `Bare`; yields forever through
/// the switch function that the first value names (0 jmp, 1 ret).
unsafe extern "C" fn bare_body(arg: *mut c_void, first: usize) -> ! {
    let bare = arg.cast::<Bare>();
    let sw: SwitchFn = if first == 0 { qemucoro_switch } else { qemucoro_floor_switch_ret };
    loop {
        // SAFETY: the fiber runs on bare's stack; its slot names the resumer.
        black_box(unsafe { bare_yield(sw, (*bare).slot.as_ptr()) });
    }
}

/// One call deep, as `qemu_coroutine_yield` is.
#[inline(never)]
unsafe fn bare_yield(sw: SwitchFn, slot: *mut usize) -> usize {
    // SAFETY: the caller's fiber is running and `slot` is its slot.
    black_box(unsafe { sw(slot, 0) })
}

/// One call deep, as `qemu_coroutine_enter` is.
#[inline(never)]
unsafe fn bare_enter(sw: SwitchFn, slot: *mut usize) -> usize {
    // SAFETY: the fiber of `slot` is suspended.
    black_box(unsafe { sw(slot, 1) })
}

fn bare_round_trips(iters: u64, ret: bool) -> f64 {
    let stack = Stack::new(DEFAULT_STACK_SIZE);
    let top = stack.bottom() as usize + stack.size();
    let bare = Box::new(Bare { slot: Cell::new(0), _stack: stack });
    let arg = std::ptr::from_ref(&*bare).cast_mut().cast();
    // SAFETY: the stack is fresh and the Box keeps `slot` in place.
    bare.slot.set(unsafe { arch::init_stack(top, bare.slot.as_ptr(), bare_body, arg) });
    let sw: SwitchFn = if ret { qemucoro_floor_switch_ret } else { qemucoro_switch };
    // SAFETY: the first switch starts bare_body, which then yields.
    unsafe { sw(bare.slot.as_ptr(), ret as usize) };
    let start = Instant::now();
    for _ in 0..iters {
        // SAFETY: the fiber is suspended in bare_yield.
        unsafe { bare_enter(sw, bare.slot.as_ptr()) };
    }
    // The fiber stays parked; nothing on its stack needs dropping.
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// ns per out-of-line enter()+yield() round trip on our jmp-based switch.
#[no_mangle]
pub extern "C" fn qemucoro_bench_floor_jmp(iters: u64) -> f64 {
    bare_round_trips(iters, false)
}

/// The same with a switch that leaves with `ret`.
#[no_mangle]
pub extern "C" fn qemucoro_bench_floor_ret(iters: u64) -> f64 {
    bare_round_trips(iters, true)
}
