//! The core's one door upward, inverted: what the coroutine core needs
//! from the event loop, as functions the event loop registers once.
//!
//! Two things the core cannot do alone. A lock that frees a sleeper must
//! wake it in the AioContext it sleeps in, perhaps another thread's
//! (`aio_co_wake`, which QEMU keeps in util/async.c, beside the loop); and
//! an enter on a thread that recorded no context must ask the event loop
//! which one it runs in (`qemu_get_current_aio_context`). The locks call `coroutine::wake` and the enter path
//! calls `current::aio_context`; both end here. The event loop fills in
//! `EventLoop` from an ELF constructor, so it is in place before any C code
//! runs and the core never names the layer above it: our own AioContext
//! (qemucoro-aio's lib.rs), or QEMU's (qemucoro-qemu-full's lib.rs).
//!
//! Neither call is on the enter or yield fast path: `wake` runs only when
//! a lock or queue hands over, and `default_context` only on threads that
//! record no context of their own.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::Coroutine;

/// The event loop's side of the contract.
pub struct EventLoop {
    /// `aio_co_wake`: re-enters `co`, which yielded, in the context it last
    /// ran in (at once, after the running coroutine yields, or by
    /// scheduling it on another thread's context).
    pub wake: fn(co: &Coroutine),
    /// `qemu_get_current_aio_context` for a thread that recorded none with
    /// `current::set_aio_context`: the context an enter there records.
    pub default_context: fn() -> *mut c_void,
}

static EVENT_LOOP: AtomicPtr<EventLoop> = AtomicPtr::new(ptr::null_mut());

/// Installs the event loop; called once, before `main`.
pub fn register(event_loop: &'static EventLoop) {
    EVENT_LOOP.store(ptr::from_ref(event_loop).cast_mut(), Ordering::Release);
}

fn get() -> &'static EventLoop {
    // SAFETY: only `register` stores here, a pointer to a `'static`.
    match unsafe { EVENT_LOOP.load(Ordering::Acquire).as_ref() } {
        Some(e) => e,
        None => qemucoro_util::abort::die(format_args!(
            "qemucoro: the event loop did not register with the coroutine core"
        )),
    }
}

/// See `EventLoop::wake`.
pub fn wake(co: &Coroutine) {
    (get().wake)(co)
}

/// See `EventLoop::default_context`. With no event loop (the core's own
/// unit tests) there is no context to record. Asked each time, as QEMU's
/// answer may change (with its BQL); a loop with a fixed answer records it
/// with `current::set_aio_context`, and this cold path is not taken again.
#[cold]
#[inline(never)]
pub fn default_context() -> *mut c_void {
    // SAFETY: as in `get`.
    match unsafe { EVENT_LOOP.load(Ordering::Acquire).as_ref() } {
        Some(e) => (e.default_context)(),
        None => ptr::null_mut(),
    }
}
