//! C exports of waiting by polling (QEMU's `block/aio-wait.h`). The
//! `AIO_WAIT_WHILE` macros live in that header and call the two qemucoro_
//! functions here around their loop.

use std::ffi::c_void;

use super::aio::c_callback;
use super::deref_opt;
use qemucoro_aio::bh::QEMUBHFunc;
use qemucoro_aio::{aio_wait, AioContext};
use qemucoro_util::abort::null_arg;

use super::bh::QEMUBHFuncFn;

/// For `AIO_WAIT_WHILE(ctx, cond)`: counts a waiter and returns the
/// context its loop must poll: `ctx` if the caller runs in it, otherwise
/// the main loop's, which the caller must be running (aborts if not).
/// Pair with `qemucoro_aio_wait_end`.
#[no_mangle]
pub extern "C" fn qemucoro_aio_wait_begin(ctx: *mut AioContext) -> *mut AioContext {
    aio_wait::begin(deref_opt(ctx)).as_ptr()
}

/// Ends the wait begun by `qemucoro_aio_wait_begin`.
#[no_mangle]
pub extern "C" fn qemucoro_aio_wait_end() {
    aio_wait::end();
}

/// Wakes the `AIO_WAIT_WHILE` loops of the main loop so they look at their
/// conditions again; call it after changing what they wait for from
/// another thread. Does nothing when nobody waits.
#[no_mangle]
pub extern "C" fn aio_wait_kick() {
    aio_wait::kick();
}

/// Runs `cb(opaque)` in `ctx` from a bottom half and waits, running the
/// main loop, until it has run. From the main loop's thread only.
#[no_mangle]
pub extern "C" fn aio_wait_bh_oneshot(
    ctx: *mut AioContext,
    cb: *mut QEMUBHFuncFn,
    opaque: *mut c_void,
) {
    let ctx = super::deref("aio_wait_bh_oneshot", "ctx", ctx);
    let cb = c_callback!(cb, QEMUBHFunc).unwrap_or_else(|| null_arg("aio_wait_bh_oneshot", "cb"));
    aio_wait::bh_oneshot(ctx, cb, opaque);
}
