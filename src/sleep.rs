//! C exports of coroutine sleeps and timeouts (QEMU's `qemu/coroutine.h`).

use std::ffi::{c_int, c_void};

use super::aio::c_callback;
use qemucoro_aio::sleep::{self, QemuCoSleep, SleepPtr};
use qemucoro_aio::timer::QEMUClockType;
use qemucoro_coroutine::{CoroutineEntry, CoroutineEntryFn};

/// Yields the running coroutine for `ns` nanoseconds of clock `type` (never
/// less), the timer running in the current context. `w` records the sleeper
/// meanwhile, so `qemu_co_sleep_wake(w)` ends the sleep early.
#[no_mangle]
pub extern "C" fn qemu_co_sleep_ns_wakeable(w: *mut QemuCoSleep, r#type: QEMUClockType, ns: i64) {
    sleep::sleep_ns_wakeable(SleepPtr::from_c("qemu_co_sleep_ns_wakeable", w), r#type, ns);
}

/// Yields the running coroutine for `ns` nanoseconds of clock `type`.
/// (A static inline function in QEMU's header.)
#[no_mangle]
pub extern "C" fn qemu_co_sleep_ns(r#type: QEMUClockType, ns: i64) {
    let mut w = QemuCoSleep {
        to_wake: std::ptr::null_mut(),
    };
    sleep::sleep_ns_wakeable(SleepPtr::from_c("qemu_co_sleep_ns", &mut w), r#type, ns);
}

/// Stands for QEMU's function type `CleanupFunc` (`void CleanupFunc(void
/// *opaque)`); never instantiated.
#[repr(C)]
pub struct CleanupFuncFn {
    _opaque: [u8; 0],
}

/// Runs `entry(opaque)` in a new coroutine of the current context and waits
/// for it, at most `timeout_ns` of QEMU_CLOCK_REALTIME. Returns 0 if it
/// finished in time, `-ETIMEDOUT` otherwise. A timed-out entry is not
/// cancelled: it keeps running, and `clean(opaque)` (if not NULL) runs when
/// it finishes. A `timeout_ns` of 0 calls `entry` directly and returns 0.
#[no_mangle]
pub extern "C" fn qemu_co_timeout(
    entry: *mut CoroutineEntryFn,
    opaque: *mut c_void,
    timeout_ns: u64,
    clean: *mut CleanupFuncFn,
) -> c_int {
    let entry = super::entry_fn("qemu_co_timeout", entry);
    let clean = c_callback!(clean, CoroutineEntry);
    // SAFETY: the C caller promises entry(opaque) and clean(opaque) are
    // valid to call (qemu_co_timeout's contract).
    unsafe { sleep::timeout(entry, opaque, timeout_ns, clean) }
}
