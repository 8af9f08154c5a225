//! The raw switch floors of `make bench`: round trips through our switch
//! (crates/switch/src/arch, compiled here from the library's own source), through
//! corosensei, and through the `context` crate (Boost.Context's fcontext),
//! with none of the API around them. Prints one "name ns" line per floor;
//! bench/compare.py shows them beside the library's figures.
//!
//! A program of its own, so that the library depends on libc alone and
//! carries no benchmark code.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the switch floors are x86_64 only (floor/ret is x86_64 assembly)");

use std::cell::Cell;
use std::ffi::c_void;
use std::hint::black_box;

use context::stack::ProtectedFixedSizeStack;
use context::{Context, Transfer};
use corosensei::stack::StackPointer;
use corosensei::Coroutine;

use arch::qemucoro_switch;

/// The library's switch, from its source: the floors measure that code.
#[allow(dead_code)] // the thread block is the library's, unused here
#[path = "../../../crates/switch/src/arch/x86_64.rs"]
mod arch;

/// QEMU's `COROUTINE_STACK_SIZE`, as the library's stacks.
const DEFAULT_STACK_SIZE: usize = 1 << 20;

/// A stack for the floors: an anonymous mapping with a guard page below it,
/// as the library's own guarded stacks are.
struct Stack {
    start: *mut u8,
    len: usize,
}

impl Stack {
    fn new(size: usize) -> Stack {
        let len = size + 4096;
        // SAFETY: an anonymous private mapping at an address the kernel
        // picks aliases nothing.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        assert!(start != libc::MAP_FAILED, "cannot map a stack");
        // SAFETY: the first page lies inside the mapping made above.
        unsafe { libc::mprotect(start, 4096, libc::PROT_NONE) };
        Stack {
            start: start.cast(),
            len,
        }
    }

    fn bottom(&self) -> *mut u8 {
        self.start.wrapping_add(4096)
    }

    fn size(&self) -> usize {
        self.len - 4096
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(); nothing runs on it any more.
        unsafe { libc::munmap(self.start.cast(), self.len) };
    }
}

// SAFETY: base() and limit() bound this stack's live, writable memory, with
// a guard page below limit().
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.start as usize + self.len).expect("mapping is not at 0")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom() as usize).expect("mapping is not at 0")
    }
}

type Floor = Coroutine<u64, u64, (), Stack>;

/// This thread's CPU time in ns (what the C benchmark's single-thread
/// figures count too).
fn cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// Times `iters` calls of `resume` on `co`, a coroutine that suspends in a
/// loop; generic so that each variant compiles to its own direct calls.
fn time_round_trips(mut co: Floor, iters: u64, resume: impl Fn(&mut Floor, u64) -> u64) -> f64 {
    co.resume(0);
    let start = cpu_ns();
    for i in 0..iters {
        black_box(resume(&mut co, i));
    }
    let ns = (cpu_ns() - start) / iters as f64;
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
fn floor_corosensei(iters: u64) -> f64 {
    time_round_trips(suspending_inline(), iters, resume_inline)
}

/// Nanoseconds per corosensei round trip when, as through any C API, the
/// suspend sits one call below the coroutine's loop.
fn floor_corosensei_nested(iters: u64) -> f64 {
    time_round_trips(suspending_nested(), iters, resume_inline)
}

/// As `..._nested`, with the resume also one call deep, as `enter` is.
fn floor_corosensei_nested2(iters: u64) -> f64 {
    time_round_trips(suspending_nested(), iters, resume_nested)
}

extern "C" fn bounce(mut t: Transfer) -> ! {
    loop {
        // SAFETY: t.context is the resumer's live context, resumed once.
        t = unsafe { t.context.resume(black_box(t.data)) };
    }
}

/// Nanoseconds per `context` resume round trip, over `iters`.
fn floor_context(iters: u64) -> f64 {
    let stack = ProtectedFixedSizeStack::new(DEFAULT_STACK_SIZE).expect("a 1 MiB stack");
    // SAFETY: `stack` outlives every resume below, and `bounce` never returns.
    let mut t = unsafe { Transfer::new(Context::new(&stack, bounce), 0) };
    let start = cpu_ns();
    for i in 0..iters {
        // SAFETY: t.context is the suspended `bounce`, resumed exactly once.
        t = unsafe { t.context.resume(i as usize) };
    }
    (cpu_ns() - start) / iters as f64
}

// --- Our own switch (switch/arch): jmp-based, ret-based, and with QEMU's checks ---

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
    let sw: SwitchFn = if first == 0 {
        qemucoro_switch
    } else {
        qemucoro_floor_switch_ret
    };
    loop {
        // SAFETY: the fiber runs on bare's stack; its slot names the resumer.
        black_box(unsafe { bare_yield(sw, (*bare).slot.as_ptr()) });
    }
}

/// Inlined into the fiber's loop: the loop calls the switch directly.
#[inline(always)]
unsafe fn bare_yield(sw: SwitchFn, slot: *mut usize) -> usize {
    // SAFETY: the caller's fiber is running and `slot` is its slot.
    black_box(unsafe { sw(slot, 0) })
}

/// Inlined into the timing loop: the loop calls the switch directly.
#[inline(always)]
unsafe fn bare_enter(sw: SwitchFn, slot: *mut usize) -> usize {
    // SAFETY: the fiber of `slot` is suspended.
    black_box(unsafe { sw(slot, 1) })
}

fn bare_round_trips(iters: u64, ret: bool) -> f64 {
    let stack = Stack::new(DEFAULT_STACK_SIZE);
    let top = stack.bottom() as usize + stack.size();
    let bare = Box::new(Bare {
        slot: Cell::new(0),
        _stack: stack,
    });
    let arg = std::ptr::from_ref(&*bare).cast_mut().cast();
    // SAFETY: the stack is fresh and the Box keeps `slot` in place.
    bare.slot
        .set(unsafe { arch::init_stack(top, bare.slot.as_ptr(), bare_body, arg) });
    let sw: SwitchFn = if ret {
        qemucoro_floor_switch_ret
    } else {
        qemucoro_switch
    };
    // SAFETY: the first switch starts bare_body, which then yields.
    unsafe { sw(bare.slot.as_ptr(), ret as usize) };
    let start = cpu_ns();
    for _ in 0..iters {
        // SAFETY: the fiber is suspended in bare_yield.
        unsafe { bare_enter(sw, bare.slot.as_ptr()) };
    }
    // The fiber stays parked; nothing on its stack needs dropping.
    (cpu_ns() - start) / iters as f64
}

/// ns per round trip on our jmp-based switch, both loops calling it
/// directly: two switches and nothing else, the physical floor.
fn floor_jmp(iters: u64) -> f64 {
    bare_round_trips(iters, false)
}

/// The same with a switch that leaves with `ret`.
fn floor_ret(iters: u64) -> f64 {
    bare_round_trips(iters, true)
}

/// A coroutine with only what QEMU's checks read, for `floor/jmp-checks`.
struct Mini {
    slot: Cell<usize>,
    caller: Cell<*const Mini>,
    scheduled: Cell<*const u8>,
    wakeup: Cell<*const Mini>,
    _stack: Option<Stack>,
}

thread_local! {
    /// The running Mini (null: the thread's own stack, `MINI_LEADER`).
    static MINI_CURRENT: Cell<*const Mini> = const { Cell::new(std::ptr::null()) };
}

#[cold]
fn mini_fail(what: &str) -> ! {
    eprintln!("floor: {what}");
    std::process::abort()
}

/// enter(): NULL, scheduled, re-entry checks, current via TLS, the
/// switch, then the pending wake-ups and termination checks; inlined into
/// the loop, so the only calls are the switch's.
#[inline(always)]
fn mini_enter(to: *const Mini, leader: &Mini) -> usize {
    // SAFETY: the bench passes a live Mini.
    let Some(to) = (unsafe { to.as_ref() }) else {
        mini_fail("NULL")
    };
    if !to.scheduled.get().is_null() {
        mini_fail("scheduled");
    }
    if !to.caller.get().is_null() {
        mini_fail("re-entered");
    }
    let from = MINI_CURRENT.with(|c| c.replace(to));
    to.caller.set(if from.is_null() { leader } else { from });
    // SAFETY: `to` is suspended in mini_yield.
    let back = unsafe { qemucoro_switch(to.slot.as_ptr(), 3) };
    if !to.wakeup.get().is_null() {
        mini_fail("wake-ups");
    }
    if back == 2 {
        mini_fail("terminated");
    }
    back
}

/// yield(): current via TLS, no-caller check, the switch; inlined.
#[inline(always)]
fn mini_yield() -> usize {
    let me = MINI_CURRENT.with(|c| c.get());
    // SAFETY: current is null or the running Mini.
    let Some(me) = (unsafe { me.as_ref() }) else {
        mini_fail("no one")
    };
    let caller = me.caller.get();
    if caller.is_null() {
        mini_fail("no caller");
    }
    MINI_CURRENT.with(|c| c.set(caller));
    me.caller.set(std::ptr::null());
    // SAFETY: `me` runs, so its slot holds its enterer's context.
    unsafe { qemucoro_switch(me.slot.as_ptr(), 1) }
}

unsafe extern "C" fn mini_body(_arg: *mut c_void, _first: usize) -> ! {
    loop {
        black_box(mini_yield());
    }
}

/// ns per enter+yield round trip with QEMU's checks on the jmp-based
/// switch, inlined into both loops.
fn floor_jmp_checks(iters: u64) -> f64 {
    let stack = Stack::new(DEFAULT_STACK_SIZE);
    let top = stack.bottom() as usize + stack.size();
    let blank = || Mini {
        slot: Cell::new(0),
        caller: Cell::new(std::ptr::null()),
        scheduled: Cell::new(std::ptr::null()),
        wakeup: Cell::new(std::ptr::null()),
        _stack: None,
    };
    let leader = blank();
    let mut co = Box::new(blank());
    co._stack = Some(stack);
    // SAFETY: a fresh stack; the Box keeps the slot in place.
    co.slot
        .set(unsafe { arch::init_stack(top, co.slot.as_ptr(), mini_body, std::ptr::null_mut()) });
    let co_ptr: *const Mini = &*co;
    mini_enter(co_ptr, &leader);
    let start = cpu_ns();
    for _ in 0..iters {
        black_box(mini_enter(black_box(co_ptr), &leader));
    }
    let ns = (cpu_ns() - start) / iters as f64;
    MINI_CURRENT.with(|c| c.set(std::ptr::null()));
    // The fiber stays parked; nothing on its stack needs dropping.
    std::mem::forget(co);
    ns
}

fn main() {
    const ITERS: u64 = 20_000_000;
    type FloorFn = fn(u64) -> f64;
    let floors: [(&str, FloorFn); 7] = [
        ("corosensei", floor_corosensei),
        ("context", floor_context),
        ("corosensei-nested", floor_corosensei_nested),
        ("corosensei-nested2", floor_corosensei_nested2),
        ("jmp", floor_jmp),
        ("ret", floor_ret),
        ("jmp-checks", floor_jmp_checks),
    ];
    for (name, floor) in floors {
        println!("floor/{name} {:.2}", floor(ITERS));
    }
}
