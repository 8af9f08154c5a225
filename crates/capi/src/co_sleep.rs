//! C exports of untimed sleeps (QEMU's `qemu/coroutine.h`); the timed
//! ones arm the event loop's timer and live with it.

use qemucoro_locks::co_sleep::{self as sleep, QemuCoSleep, SleepPtr};

/// Yields the running coroutine until `qemu_co_sleep_wake(w)`. Aborts with
/// "qemu_co_sleep: Co-routine was already scheduled in '...'" if the
/// coroutine is scheduled elsewhere.
#[no_mangle]
pub extern "C" fn qemu_co_sleep(w: *mut QemuCoSleep) {
    sleep::sleep(SleepPtr::from_c("qemu_co_sleep", w));
}

/// Wakes the coroutine sleeping on `w`, if any, in its own context; its
/// timer is deleted when it resumes. Does nothing if none sleeps on `w`.
#[no_mangle]
pub extern "C" fn qemu_co_sleep_wake(w: *mut QemuCoSleep) {
    sleep::wake(SleepPtr::from_c("qemu_co_sleep_wake", w));
}
