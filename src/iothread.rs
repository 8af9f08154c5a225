//! C exports of iothreads, in the shape of QEMU's test helper
//! (tests/unit/iothread.h) under names of our own: a program that compiles
//! QEMU's tests/unit/iothread.c defines iothread_new and friends itself,
//! which would clash with the archive's (and silently replace the shared
//! library's). The QEMU names are an opt-in: include/iothread.h maps them.

use super::deref;
use qemucoro_aio::iothread::{self, IOThread};
use qemucoro_aio::AioContext;

/// Starts a thread running a new context of its own (`aio_poll(ctx, true)`
/// in a loop); on that thread `qemu_get_current_aio_context()` is that
/// context. Returns once the context exists.
#[no_mangle]
pub extern "C" fn qemucoro_iothread_new() -> *mut IOThread {
    Box::into_raw(iothread::new())
}

/// The context `iothread` runs. It stays valid until `iothread_join`
/// (take a reference with `aio_context_ref` to keep it longer).
#[no_mangle]
pub extern "C" fn qemucoro_iothread_get_aio_context(iothread: *mut IOThread) -> *mut AioContext {
    deref("qemucoro_iothread_get_aio_context", "iothread", iothread).context()
}

/// Stops `iothread` once the work already queued in its context has run,
/// waits for the thread to end and frees it, dropping its reference to the
/// context.
#[no_mangle]
pub extern "C" fn qemucoro_iothread_join(iothread: *mut IOThread) {
    deref("qemucoro_iothread_join", "iothread", iothread);
    // SAFETY: non-NULL iothreads come from iothread_new's Box and are
    // joined once.
    iothread::join(*unsafe { Box::from_raw(iothread) });
}
