//! QEMU's trace points for the core and the locks, fired through hooks a
//! product registers: util/trace-events' `qemu_aio_coroutine_enter`,
//! `qemu_coroutine_yield`, `qemu_coroutine_terminate` and the five
//! `qemu_co_mutex_*` events, at the places QEMU's own coroutine files fire
//! them. QEMU's full mode registers its generated trace functions (the C
//! glue), so `-trace`, `--trace` and the monitor's `trace-event` control
//! them as they control QEMU's own; the C library registers none.
//!
//! The fast path costs about what QEMU's own inline trace functions do
//! (one load of the count of enabled events and a branch): a load of where
//! that count is (QEMU's `trace_events_enabled_count`, or an always-zero
//! word of ours until a product registers), a load of the count, a branch.
//! The event itself goes through a cold call, which checks the event's own
//! state.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use crate::{current, Coroutine};

/// The CoMutex events, as the glue's `mutex` hook numbers them.
#[repr(C)]
#[derive(Clone, Copy)]
pub enum MutexEvent {
    LockUncontended = 0,
    LockEntry = 1,
    LockReturn = 2,
    UnlockEntry = 3,
    UnlockReturn = 4,
}

type Ptr = *const c_void;

/// A product's trace hooks (C functions, each QEMU's trace function of the
/// same event).
pub struct Tracer {
    /// Nonzero while any event may be enabled.
    pub enabled: &'static AtomicI32,
    pub enter: unsafe extern "C" fn(ctx: Ptr, from: Ptr, to: Ptr, opaque: Ptr),
    pub yield_: unsafe extern "C" fn(from: Ptr, to: Ptr),
    pub terminate: unsafe extern "C" fn(co: Ptr),
    pub mutex: unsafe extern "C" fn(event: c_int, mutex: Ptr, co: Ptr),
}

static NEVER: AtomicI32 = AtomicI32::new(0);
static ENABLED: AtomicPtr<AtomicI32> = AtomicPtr::new(ptr::addr_of!(NEVER).cast_mut());
static TRACER: AtomicPtr<Tracer> = AtomicPtr::new(ptr::null_mut());

/// Installs the hooks; called once, before `main` (an ELF constructor).
pub fn register(tracer: &'static Tracer) {
    TRACER.store(ptr::from_ref(tracer).cast_mut(), Ordering::Release);
    ENABLED.store(ptr::from_ref(tracer.enabled).cast_mut(), Ordering::Release);
}

#[inline(always)]
fn on() -> bool {
    // SAFETY: ENABLED points at NEVER or at a registered `'static` word.
    unsafe { &*ENABLED.load(Ordering::Relaxed) }.load(Ordering::Relaxed) != 0
}

/// The registered hooks (set whenever `on()` is true).
fn hooks() -> &'static Tracer {
    // SAFETY: ENABLED leaves NEVER only after TRACER was stored, and only
    // `register` stores TRACER, a pointer to a `'static`.
    unsafe { &*TRACER.load(Ordering::Acquire) }
}

fn p<T>(x: *const T) -> Ptr {
    x.cast()
}

// The enter and yield events are fired first thing, as QEMU fires them,
// and their cold halves find the rest themselves, so that the hot path
// keeps nothing alive across the call.

/// `qemu_aio_coroutine_enter(ctx, from, to, opaque)`; a null `ctx` is the
/// calling thread's.
#[inline(always)]
pub fn enter(ctx: *mut c_void, to: &Coroutine) {
    if on() {
        fire_enter(ctx, to);
    }
}

#[cold]
#[inline(never)]
fn fire_enter(ctx: *mut c_void, to: &Coroutine) {
    let ctx = if ctx.is_null() {
        current::aio_context()
    } else {
        ctx
    };
    let from = current::get();
    // SAFETY: the hook takes any pointers and only prints them.
    unsafe { (hooks().enter)(p(ctx), p(from), p(to), p(to.entry_arg.get())) }
}

/// `qemu_coroutine_yield(from, to)`, from the running coroutine to its
/// enterer.
#[inline(always)]
pub fn yield_() {
    if on() {
        fire_yield();
    }
}

#[cold]
#[inline(never)]
fn fire_yield() {
    let from = current::peek();
    // SAFETY: `current` is null or a live coroutine or leader.
    let to = unsafe { from.as_ref() }.map_or(ptr::null(), |f| f.caller.get());
    // SAFETY: as in `fire_enter`.
    unsafe { (hooks().yield_)(p(from), p(to)) }
}

/// `qemu_coroutine_terminate(co)`.
#[inline(always)]
pub fn terminate(co: &Coroutine) {
    if on() {
        fire_terminate(co);
    }
}

#[cold]
#[inline(never)]
fn fire_terminate(co: &Coroutine) {
    // SAFETY: as in `fire_enter`.
    unsafe { (hooks().terminate)(p(co)) }
}

/// One of the `qemu_co_mutex_*` events, for `mutex` and the running `co`.
#[inline(always)]
pub fn mutex<M>(event: MutexEvent, mutex: &M, co: &Coroutine) {
    if on() {
        fire_mutex(event, p(mutex), co);
    }
}

#[cold]
#[inline(never)]
fn fire_mutex(event: MutexEvent, mutex: Ptr, co: &Coroutine) {
    // SAFETY: as in `fire_enter`.
    unsafe { (hooks().mutex)(event as c_int, mutex, p(co)) }
}
