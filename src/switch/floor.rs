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
