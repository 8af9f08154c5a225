//! C exports of asynchronous requests (QEMU's `BlockAIOCB`, `qemu_aio_get`
//! and `bdrv_aio_cancel` from `block/aio.h` and `block/block.h`).

use std::ffi::c_void;

use super::deref;
use qemucoro_aio::aiocb::{self, AIOCBInfo, BlockAIOCB, BlockCompletionFuncFn, BlockDriverState};

/// Allocates a request of the type `aiocb_info` describes
/// (`aiocb_info->aiocb_size` bytes, a `BlockAIOCB` first) with one
/// reference; `cb(opaque, ret)` is what its completion will call. The
/// `AIOCBInfo` must outlive the request (normally a static).
#[no_mangle]
pub extern "C" fn qemu_aio_get(
    aiocb_info: *const AIOCBInfo,
    bs: *mut BlockDriverState,
    cb: *mut BlockCompletionFuncFn,
    opaque: *mut c_void,
) -> *mut c_void {
    let info = deref("qemu_aio_get", "aiocb_info", aiocb_info);
    aiocb::get(info, bs, cb, opaque).cast()
}

/// Takes a reference to the request `p`. Not thread-safe: only the
/// request's context may use its count.
#[no_mangle]
pub extern "C" fn qemu_aio_ref(p: *mut c_void) {
    aiocb::add_ref(deref("qemu_aio_ref", "p", p.cast::<BlockAIOCB>()));
}

/// Drops a reference to the request `p`, freeing it with the last one.
#[no_mangle]
pub extern "C" fn qemu_aio_unref(p: *mut c_void) {
    deref("qemu_aio_unref", "p", p.cast::<BlockAIOCB>());
    // SAFETY: a live request whose reference the caller gives up.
    unsafe { aiocb::unref(p.cast()) };
}

/// Asks for `acb` to be cancelled and returns at once. Its callback still
/// runs once, later, from its context's loop: with -ECANCELED if the
/// request had not started, else with its own result.
#[no_mangle]
pub extern "C" fn bdrv_aio_cancel_async(acb: *mut BlockAIOCB) {
    aiocb::cancel_async(deref("bdrv_aio_cancel_async", "acb", acb));
}

/// Cancels `acb` like `bdrv_aio_cancel_async`, then runs the main loop
/// until its callback has run. From the main loop's thread only.
#[no_mangle]
pub extern "C" fn bdrv_aio_cancel(acb: *mut BlockAIOCB) {
    deref("bdrv_aio_cancel", "acb", acb);
    // SAFETY: a live request (the caller's contract: its callback has not
    // run yet).
    unsafe { aiocb::cancel(acb) };
}
