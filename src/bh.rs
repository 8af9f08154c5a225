//! C exports of bottom halves (QEMU's `QEMUBH` in `block/aio.h`).

use std::ffi::{c_char, c_void};

use super::aio::c_callback;
use super::deref;
use qemucoro_aio::bh::{self, QEMUBHFunc, QEMUBH};
use qemucoro_util::abort::null_arg;

/// Stands for QEMU's function type `QEMUBHFunc` (`void QEMUBHFunc(void
/// *opaque)`); never instantiated.
#[repr(C)]
pub struct QEMUBHFuncFn {
    _opaque: [u8; 0],
}

fn callback(func: &str, cb: *mut QEMUBHFuncFn) -> QEMUBHFunc {
    c_callback!(cb, QEMUBHFunc).unwrap_or_else(|| null_arg(func, "cb"))
}

/// Stands for QEMU's `MemReentrancyGuard` (a device's guard against
/// re-entering its own MMIO from a bottom half); accepted, never used.
#[repr(C)]
pub struct MemReentrancyGuard {
    _opaque: [u8; 0],
}

/// Creates a bottom half that runs `cb(opaque)` in `ctx`'s loop each time
/// it is scheduled. Free it with `qemu_bh_delete`, before the context goes
/// (destroying a context with it still scheduled aborts naming `name`).
/// `name` (a string that outlives the bottom half, or NULL) is what
/// `aio_bh_new` passes: the callback's name. `reentrancy_guard` must be
/// NULL (devices are QEMU's).
#[no_mangle]
pub extern "C" fn aio_bh_new_full(
    ctx: *mut qemucoro_aio::AioContext,
    cb: *mut QEMUBHFuncFn,
    opaque: *mut c_void,
    name: *const c_char,
    reentrancy_guard: *mut MemReentrancyGuard,
) -> *mut QEMUBH {
    let ctx = deref("aio_bh_new_full", "ctx", ctx);
    if !reentrancy_guard.is_null() {
        qemucoro_util::abort::die(format_args!(
            "aio_bh_new_full: reentrancy_guard is not supported"
        ));
    }
    bh::new(ctx, callback("aio_bh_new_full", cb), opaque, name)
}

/// Runs `cb(opaque)` once in `ctx`'s loop, then frees the bottom half.
/// Thread-safe. `name` as for `aio_bh_new_full` (`aio_bh_schedule_oneshot`
/// passes the callback's name).
#[no_mangle]
pub extern "C" fn aio_bh_schedule_oneshot_full(
    ctx: *mut qemucoro_aio::AioContext,
    cb: *mut QEMUBHFuncFn,
    opaque: *mut c_void,
    name: *const c_char,
) {
    let ctx = deref("aio_bh_schedule_oneshot_full", "ctx", ctx);
    bh::schedule_oneshot_named(
        ctx,
        callback("aio_bh_schedule_oneshot_full", cb),
        opaque,
        name,
    );
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
