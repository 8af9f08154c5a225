//! Timed sleeps on QEMU's timers: `qemu_co_sleep_ns_wakeable` arms a timer
//! of the current context that wakes the `QemuCoSleep`, then sleeps on it
//! (qemucoro-locks' co_sleep), and deletes the timer once woken.

use std::ffi::{c_int, c_void};
use std::mem::MaybeUninit;

use crate::qemu::{self, TimerBuf};
use qemucoro_coroutine as coroutine;
use qemucoro_locks::co_sleep::{self, QemuCoSleep, SleepPtr};

unsafe extern "C" fn timer_expired(opaque: *mut c_void) {
    // The timer is armed with its sleep's QemuCoSleep, which lives until the
    // timer is deleted after the sleep.
    co_sleep::wake(SleepPtr::from_c("qemu_co_sleep_ns_wakeable", opaque.cast()));
}

/// Yields the running coroutine for `ns` nanoseconds of clock `type`, or
/// less if `qemu_co_sleep_wake(w)` ends it first.
#[no_mangle]
pub extern "C" fn qemu_co_sleep_ns_wakeable(w: *mut QemuCoSleep, r#type: c_int, ns: i64) {
    let w = SleepPtr::from_c("qemu_co_sleep_ns_wakeable", w);
    coroutine::running_or_abort("qemu_co_sleep_ns_wakeable");
    let mut timer = MaybeUninit::<TimerBuf>::uninit();
    // SAFETY: the buffer outlives the timer (deleted below, before the
    // frame goes); the glue initialises it; the callback gets the live
    // QemuCoSleep. The timer fires in this context, so only after the
    // sleep below has yielded.
    unsafe {
        qemu::qemucoro_qemu_timer_start(
            timer.as_mut_ptr(),
            r#type,
            ns,
            timer_expired,
            w.as_opaque(),
        );
    }
    co_sleep::sleep_for(w, ns.max(0) as usize);
    // SAFETY: the glue initialised the timer above.
    unsafe { qemu::qemucoro_qemu_timer_stop(timer.as_mut_ptr()) };
}
