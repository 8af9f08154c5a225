//! QEMU's full mode: our whole coroutine API inside QEMU, in place of its
//! util/qemu-coroutine.c, -lock.c, -sleep.c and -io.c (and of the backend
//! they sit on), running on QEMU's own event loop.
//!
//! The core, the pool and the locks are the ones the C library uses, and
//! so are their exports (qemucoro-capi). What this crate adds is the event
//! loop's side, over the functions QEMU exports:
//! - the core's hooks (coroutine/event_loop.rs): a wake is QEMU's
//!   `aio_co_wake`, and an enter that names no context records
//!   `qemu_get_current_aio_context()`, as QEMU's `qemu_coroutine_enter`;
//! - the exports that name an AioContext or arm its timers and fd handlers
//!   (context.rs, sleep.rs, fd.rs);
//! - the core's trace hooks: QEMU's own trace points (trace.rs).
//!
//! QEMU's util/async.c reads and writes the shared head of `struct
//! Coroutine` (ctx, scheduled, the wake-up queue); the core lays it out as
//! QEMU does, and qemu/coroutine-qemucoro-full.c checks that with QEMU's
//! headers. The timer glue is in that C file too, because QEMU's
//! `aio_timer_init` is an inline function of its headers.

// C hands us raw pointers by design; each deref is checked for NULL.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod context;
mod fd;
mod qemu;
mod sleep;
mod trace;

use std::ffi::c_void;

use qemucoro_coroutine::event_loop::{self, EventLoop};
use qemucoro_coroutine::Coroutine;

/// What the coroutine core calls up for: QEMU's loop.
static EVENT_LOOP: EventLoop = EventLoop {
    wake,
    default_context,
};

fn wake(co: &Coroutine) {
    // SAFETY: QEMU's aio_co_wake takes a coroutine that yielded; the core
    // only wakes such coroutines (a lock's or a sleep's waiter).
    unsafe { qemu::aio_co_wake(std::ptr::from_ref(co).cast_mut().cast()) }
}

fn default_context() -> *mut c_void {
    // SAFETY: a plain query of QEMU's per-thread state.
    unsafe { qemu::qemu_get_current_aio_context() }
}

/// Registers `EVENT_LOOP` and the trace hooks before `main`, as the C library's event loop does.
#[used]
#[link_section = ".init_array"]
static REGISTER: extern "C" fn() = register;

extern "C" fn register() {
    event_loop::register(&EVENT_LOOP);
    trace::register();
}

// A panic or an allocation failure: one line and abort (see the macro).
qemucoro_util::define_abort_hooks!();
