//! The exports that name an AioContext: entering a coroutine in one, and
//! asking which one a coroutine last ran in (QEMU's qemu-coroutine.c).

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use qemucoro_capi::deref;
use qemucoro_coroutine::{self as coroutine, Coroutine};

/// Runs `co` in `ctx` now, on the calling thread, until it yields or
/// returns, then the coroutines it woke; `co` records `ctx`.
#[no_mangle]
pub extern "C" fn qemu_aio_coroutine_enter(ctx: *mut c_void, co: *mut Coroutine) {
    let co = deref("qemu_aio_coroutine_enter", "co", co);
    coroutine::enter(ctx, co);
}

/// The context `co` last ran in (where `aio_co_wake` sends it).
#[no_mangle]
pub extern "C" fn qemu_coroutine_get_aio_context(co: *mut Coroutine) -> *mut c_void {
    let co = deref("qemu_coroutine_get_aio_context", "co", co);
    co.ctx.load(Ordering::Acquire)
}
