//! The operations: create, enter, yield and terminate (the home of QEMU's
//! `qemu-coroutine.c` semantics).
//!
//! A coroutine runs on its own fiber. `enter` resumes the fiber with the
//! enterer recorded as `caller`; `yield` clears `caller` and suspends back to
//! it. When the entry function returns, the fiber's body suspends one last
//! time with TERMINATE and the enterer recycles the coroutine into the pool,
//! fiber and stack intact, ready for the next `create`.
//!
//! Each of enter and yield is split around its one switch, so that the C
//! library can put no `ret` across a switch (its src/coroutine.rs, which
//! does the switch itself, see `qemucoro_switch::define_switch!`): `enter_begin`
//! and `yield_begin` do every check and the bookkeeping and return the
//! slot to switch on; `enter_end` and `yield_end` do what is left once the
//! switch comes back. Rust callers use `enter` and `yield_now`, which are
//! the two halves around the switch.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::Ordering;

use crate::co::{pooled_mark, STATE_LIVE, STATE_POOLED};
use crate::co::{ACTION_ENTER, ACTION_TERMINATE, ACTION_YIELD};
use crate::{current, event_loop, init, overflow, pool, registry, thread_block, trace};
use crate::{CoList, Coroutine, CoroutineEntry};
use qemucoro_switch as switch;
use qemucoro_switch::stack::{Stack, DEFAULT_STACK_SIZE};
use qemucoro_util::abort::die;

/// `qemu_coroutine_create`: a coroutine from the pool, or a new one.
#[inline(always)]
pub fn create(entry: CoroutineEntry, opaque: *mut c_void) -> *mut Coroutine {
    let co = match pool::get() {
        Some(co) => co,
        None => new_boxed(DEFAULT_STACK_SIZE),
    };
    // SAFETY: a pooled or new coroutine is ours alone until returned.
    let c = unsafe { &*co };
    c.entry.set(Some(entry));
    c.entry_arg.set(opaque);
    c.caller.set(ptr::null());
    c.ctx.store(ptr::null_mut(), Ordering::Relaxed);
    c.state.store(STATE_LIVE, Ordering::Relaxed);
    co
}

/// A new coroutine with its own stack, parked before its first entry
/// (the cold half of `create`: it maps a stack).
#[cold]
#[inline(never)]
fn new_boxed(stack_size: usize) -> *mut Coroutine {
    let co = Box::into_raw(Box::new(Coroutine::blank()));
    // SAFETY: `co` was just allocated above and is not shared yet.
    let c = unsafe { &*co };
    // In place, the wake-up queue's `last` can point at its own head, as C
    // code appending to it expects (co.rs).
    c.wakeup.reset();
    let stack = Stack::new(stack_size);
    // SAFETY: the fiber is new, and it lives in the box, which never
    // moves; the body gets the coroutine it was made for.
    unsafe { c.fiber.prepare(stack, switch::body::<Coroutine>, co.cast()) };
    registry::add(c);
    co
}

/// `qemu_aio_coroutine_enter`: runs `co`, then every coroutine it woke,
/// depth first, until all have yielded or terminated; all of them record
/// `ctx`, as in QEMU. A null `ctx` means the calling thread's own context.
pub fn enter(ctx: *mut c_void, co: &Coroutine) {
    let slot = enter_begin(ctx, co);
    // SAFETY: enter_begin checked that `co` is suspended and made it the
    // running coroutine; it switches back here through the same slot.
    let action = unsafe { switch::switch(slot, ACTION_ENTER) };
    finish_enter(ctx, co, action);
}

/// The enter path's first half: every check and the bookkeeping an enter
/// does before its switch; returns the slot to switch on. A null `ctx`
/// means the calling thread's own context.
#[inline(always)]
pub fn enter_begin(ctx: *mut c_void, to: &Coroutine) -> *mut usize {
    trace::enter(ctx, to);
    check_enterable(to);
    let t = thread_block::block();
    let from = t.current.get(init::adopt_leader);
    to.caller.set(from);
    let ctx = if !ctx.is_null() {
        ctx
    } else {
        match t.aio_context.get() {
            c if c.is_null() => event_loop::default_context(),
            c => c,
        }
    };
    // Release: a waker that reads ctx also sees what we stored before.
    to.ctx.store(ctx, Ordering::Release);
    // Checked after the switch back.
    to.fiber.prefetch_canary();
    // The coroutine sets `current` back to `from` before it switches back.
    t.current.set(to);
    // SAFETY: `from` is the running coroutine or this thread's leader.
    to.fiber.before_resume(unsafe { &(*from).fiber });
    to.fiber.slot()
}

/// The enter path's second half: everything an enter in the calling
/// thread's own context does once `to` switched back with `action`.
#[inline(always)]
pub fn enter_end(to: &Coroutine, action: u32) {
    finish_enter(ptr::null_mut(), to, action);
}

/// `enter_end` for an enter in `ctx`, which the coroutines `to` woke
/// record too.
#[inline(always)]
fn finish_enter(ctx: *mut c_void, to: &Coroutine, action: u32) {
    resumed(to);
    if !to.wakeup.is_empty() {
        return run_woken(to, action, ctx);
    }
    if action == ACTION_TERMINATE {
        terminated(to);
    }
}

/// What the enterer does first once `to` switched back: the sanitizers'
/// half of the switch, and the check of a software-checked stack.
#[inline(always)]
fn resumed(to: &Coroutine) {
    // SAFETY: the coroutine restored `current` to us before coming back.
    #[cfg(feature = "asan")]
    switch::Fiber::after_resume(unsafe { &(*current::get()).fiber });
    check_canary(to);
}

/// Aborts if the coroutine ran past the bottom of a software-checked stack.
#[inline(always)]
fn check_canary(co: &Coroutine) {
    co.fiber.check_stack(|| overflowed(co));
}

#[cold]
fn overflowed(co: &Coroutine) -> ! {
    overflow::report(co, " (a software-checked stack: caught at switch-out)")
}

/// The rest of an enter whose coroutine woke others: QEMU's order, the
/// most recently woken first, each one's own wake-ups before its elders'.
#[inline(never)]
// (`ctx` last: the enter's own arguments stay in their registers.)
fn run_woken(first: &Coroutine, action: u32, ctx: *mut c_void) {
    let pending = CoList::new();
    pending.prepend(&first.wakeup);
    if action == ACTION_TERMINATE {
        terminated(first);
    }
    while let Some(to) = pending.pop_front() {
        let slot = enter_begin(ctx, to);
        // SAFETY: as in `enter`.
        let action = unsafe { switch::switch(slot, ACTION_ENTER) };
        resumed(to);
        pending.prepend(&to.wakeup);
        if action == ACTION_TERMINATE {
            terminated(to);
        }
    }
}

#[inline(always)]
fn check_enterable(to: &Coroutine) {
    let scheduled = to.scheduled.load(Ordering::Acquire);
    if !scheduled.is_null() {
        already_scheduled(scheduled);
    }
    if to.is_entered() {
        not_enterable(to);
    }
    if !to.fiber.has_stack() {
        die(format_args!(
            "qemu_coroutine_enter: cannot enter a thread's leader"
        ));
    }
}

#[cold]
#[inline(never)]
fn not_enterable(to: &Coroutine) -> ! {
    if to.is_pooled() {
        die_stale("qemu_coroutine_enter");
    }
    die(format_args!("Co-routine re-entered recursively"))
}

/// Aborts because `func` was given a coroutine that had terminated.
#[cold]
pub fn die_stale(func: &str) -> ! {
    die(format_args!(
        "{func}: Co-routine used after it terminated (its Coroutine * is stale)"
    ))
}

#[cold]
#[inline(never)]
fn already_scheduled(scheduled: *const c_char) -> ! {
    // SAFETY: `scheduled` only ever holds NUL-terminated static names.
    let name = unsafe { std::ffi::CStr::from_ptr(scheduled) };
    die(format_args!(
        "qemu_aio_coroutine_enter: Co-routine was already scheduled in '{}'",
        name.to_string_lossy()
    ))
}

#[inline(always)]
fn terminated(co: &Coroutine) {
    let held = co.locks_held.get();
    if held != 0 {
        terminated_holding_locks(held);
    }
    trace::terminate(co);
    if co.state.load(Ordering::Relaxed) != STATE_LIVE {
        terminated_twice();
    }
    co.caller.set(pooled_mark());
    co.state.store(STATE_POOLED, Ordering::Relaxed);
    pool::put(ptr::from_ref(co).cast_mut());
}

#[cold]
#[inline(never)]
fn terminated_twice() -> ! {
    die(format_args!(
        "qemu_coroutine_enter: Co-routine terminated twice (pooled twice)"
    ))
}

#[cold]
#[inline(never)]
fn terminated_holding_locks(held: usize) -> ! {
    die(format_args!(
        "Co-routine terminated while holding {held} lock(s)"
    ))
}

/// `aio_co_wake` for the layers below the event loop (the locks): re-enters
/// `co` in the context it last ran in, through the event loop's hook.
pub fn wake(co: &Coroutine) {
    event_loop::wake(co);
}

/// `qemu_coroutine_yield`: back to whoever entered the running coroutine.
pub fn yield_now() {
    let slot = yield_begin();
    // SAFETY: yield_begin returned the running coroutine's slot, which holds
    // its enterer's context; the next enter switches back here.
    unsafe { switch::switch(slot, ACTION_YIELD) };
    yield_end();
}

/// The yield path's first half: the checks and the bookkeeping; returns
/// the running coroutine's slot, to switch on back to its enterer.
#[inline(always)]
pub fn yield_begin() -> *mut usize {
    trace::yield_();
    let t = thread_block::block();
    // SAFETY: `current` is null or the running coroutine, live while it runs.
    let Some(me) = (unsafe { t.current.peek().as_ref() }) else {
        yielding_to_no_one()
    };
    let caller = me.caller.get();
    if caller.is_null() {
        yielding_to_no_one();
    }
    t.current.set(caller);
    me.caller.set(ptr::null());
    me.wait.yielded(caller);
    me.fiber.before_suspend(false);
    me.fiber.slot()
}

#[cold]
#[inline(never)]
fn yielding_to_no_one() -> ! {
    die(format_args!("Co-routine is yielding to no one"))
}

/// The yield path's second half, after the coroutine was entered again:
/// only the sanitizers have something to do (so the C API's yield calls it
/// only in sanitizer builds).
#[inline(always)]
pub fn yield_end() {
    // SAFETY: we were entered again, so `current` is this coroutine.
    #[cfg(feature = "asan")]
    unsafe { &*current::get() }.fiber.after_suspend();
}

/// The running coroutine, for the functions that must be called from one;
/// outside a coroutine, aborts with "FUNC: not in a coroutine".
pub fn running_or_abort(func: &str) -> &'static Coroutine {
    let me = current::running();
    if !me.is_entered() {
        die(format_args!("{func}: not in a coroutine"));
    }
    me
}

/// `qemu_in_coroutine`.
pub fn in_coroutine() -> bool {
    // SAFETY: `current` is null or a live coroutine or leader.
    unsafe { current::peek().as_ref() }.is_some_and(Coroutine::is_entered)
}

/// What the fiber base's body loop (`switch::body`) runs a coroutine with.
impl switch::FiberOwner for Coroutine {
    #[inline(always)]
    fn fiber(&self) -> &switch::Fiber {
        &self.fiber
    }

    #[inline(always)]
    fn entry(&self) -> Option<CoroutineEntry> {
        self.entry.get()
    }

    #[inline(always)]
    fn entry_arg(&self) -> *mut c_void {
        self.entry_arg.get()
    }

    fn no_entry() -> ! {
        die(format_args!("entered a coroutine with no entry"))
    }

    /// Back to the enterer with TERMINATE; it recycles the coroutine.
    #[inline(always)]
    unsafe fn terminate(&self) {
        current::set(self.caller.get());
        // SAFETY: per the trait, we run on the fiber's stack, entered by
        // `caller`.
        unsafe { self.fiber.suspend(ACTION_TERMINATE, true) };
    }
}
