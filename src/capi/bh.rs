//! C exports of bottom halves (QEMU's `QEMUBH` in `block/aio.h`).

use std::ffi::c_void;

use super::aio::c_callback;
use super::deref;
use crate::util::abort::null_arg;
use crate::aio::bh::{self, QEMUBHFunc, QEMUBH};

/// Stands for QEMU's function type `QEMUBHFunc` (`void QEMUBHFunc(void
/// *opaque)`); never instantiated.
#[repr(C)]
pub struct QEMUBHFuncFn {
    _opaque: [u8; 0],
}

fn callback(func: &str, cb: *mut QEMUBHFuncFn) -> QEMUBHFunc {
    c_callback!(cb, QEMUBHFunc).unwrap_or_else(|| null_arg(func, "cb"))
}

/// Creates a bottom half that runs `cb(opaque)` in `ctx`'s loop each time
/// it is scheduled. Free it with `qemu_bh_delete`. (In QEMU a macro over
/// aio_bh_new_full; the debugging name and reentrancy guard are not kept.)
#[no_mangle]
pub extern "C" fn aio_bh_new(
    ctx: *mut crate::aio::AioContext,
    cb: *mut QEMUBHFuncFn,
    opaque: *mut c_void,
) -> *mut QEMUBH {
    let ctx = deref("aio_bh_new", "ctx", ctx);
    bh::new(ctx, callback("aio_bh_new", cb), opaque)
}

/// Runs `cb(opaque)` once in `ctx`'s loop, then frees the bottom half.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn aio_bh_schedule_oneshot(
    ctx: *mut crate::aio::AioContext,
    cb: *mut QEMUBHFuncFn,
    opaque: *mut c_void,
) {
    let ctx = deref("aio_bh_schedule_oneshot", "ctx", ctx);
    bh::schedule_oneshot(ctx, callback("aio_bh_schedule_oneshot", cb), opaque);
}

/// Schedules `bh` to run on its context's next loop iteration, waking a
/// blocking aio_poll there. Scheduling it again before it runs is a no-op.
/// Thread-safe and wait-free.
#[no_mangle]
pub extern "C" fn qemu_bh_schedule(bh: *mut QEMUBH) {
    bh::schedule(deref("qemu_bh_schedule", "bh", bh));
}

/// Cancels a scheduled run of `bh`; it can be scheduled again.
#[no_mangle]
pub extern "C" fn qemu_bh_cancel(bh: *mut QEMUBH) {
    bh::cancel(deref("qemu_bh_cancel", "bh", bh));
}

/// Cancels and frees `bh` (the memory goes on the loop's next iteration,
/// so this is safe inside `bh`'s own callback). Do not use `bh` afterwards.
#[no_mangle]
pub extern "C" fn qemu_bh_delete(bh: *mut QEMUBH) {
    bh::delete(deref("qemu_bh_delete", "bh", bh));
}
