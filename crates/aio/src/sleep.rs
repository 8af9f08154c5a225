//! Timed sleeps on our timers (the rest of QEMU's
//! util/qemu-coroutine-sleep.c, over qemucoro-locks' `QemuCoSleep`) and
//! running a coroutine against a deadline (util/qemu-co-timeout.c).

use std::ffi::c_void;
use std::ptr;

use crate::timer::{QEMUClockType, QEMUTimer, QEMU_CLOCK_REALTIME, SCALE_NS};

use qemucoro_coroutine::{self as coroutine, CoroutineEntry};
use qemucoro_locks::co_sleep::sleep_for;
pub use qemucoro_locks::co_sleep::{sleep, wake, QemuCoSleep, SleepPtr};

unsafe extern "C" fn timer_expired(opaque: *mut c_void) {
    // The timer is armed with its sleep's QemuCoSleep, which lives until the
    // timer is deleted after the sleep.
    wake(SleepPtr::from_c("qemu_co_sleep_ns_wakeable", opaque.cast()));
}

/// `qemu_co_sleep_ns_wakeable`: sleeps `ns` of `clock` in the current
/// context, or less if woken through `w`.
pub fn sleep_ns_wakeable(w: SleepPtr, clock: QEMUClockType, ns: i64) {
    coroutine::running_or_abort("qemu_co_sleep_ns_wakeable");
    clock.index("qemu_co_sleep_ns_wakeable");
    let ctx = crate::require_context("qemu_co_sleep_ns_wakeable");
    let opaque = w.as_opaque();
    let timer = QEMUTimer::new(ctx, clock, SCALE_NS, timer_expired, opaque);
    timer.arm_ns(clock.now_ns().saturating_add(ns));
    sleep_for(w, ns.max(0) as usize);
    timer.disarm();
}

/// One qemu_co_timeout: shared by the waiting caller and the coroutine
/// running `entry`; freed by whichever of the two finishes last.
struct Timeout {
    entry: CoroutineEntry,
    opaque: *mut c_void,
    clean: Option<CoroutineEntry>,
    sleep: QemuCoSleep,
    /// Set by the first of the two to finish.
    finished: bool,
}

unsafe extern "C" fn timeout_entry(opaque: *mut c_void) {
    let t = opaque.cast::<Timeout>();
    // SAFETY: `t` is live until both sides are done (see `Timeout`), and
    // both sides run in the same context, never at once.
    unsafe {
        ((*t).entry)((*t).opaque);
        if (*t).finished {
            if let Some(clean) = (*t).clean {
                clean((*t).opaque);
            }
            drop(Box::from_raw(t));
        } else {
            (*t).finished = true;
            wake(SleepPtr(ptr::NonNull::new_unchecked(ptr::addr_of_mut!(
                (*t).sleep
            ))));
        }
    }
}

/// `qemu_co_timeout`: runs `entry(opaque)` in a new coroutine and waits for
/// it at most `timeout_ns` (0: no limit, run it directly). Returns 0 if it
/// finished in time, else `-ETIMEDOUT`, leaving it running: `clean(opaque)`
/// then runs when it finishes.
///
/// # Safety
/// `entry(opaque)` and `clean(opaque)` must be valid to call, from a
/// coroutine of the current context, until `clean` has run.
pub unsafe fn timeout(
    entry: CoroutineEntry,
    opaque: *mut c_void,
    timeout_ns: u64,
    clean: Option<CoroutineEntry>,
) -> i32 {
    if timeout_ns == 0 {
        // SAFETY: per this function's contract.
        unsafe { entry(opaque) };
        return 0;
    }
    coroutine::running_or_abort("qemu_co_timeout");
    let ctx = crate::require_context("qemu_co_timeout");
    let t = Box::into_raw(Box::new(Timeout {
        entry,
        opaque,
        clean,
        sleep: QemuCoSleep {
            to_wake: ptr::null_mut(),
        },
        finished: false,
    }));
    let co = coroutine::create(timeout_entry, t.cast());
    // From inside a coroutine this runs `co` once we yield in the sleep.
    // SAFETY: `create` returns a live coroutine.
    crate::enter_in(ctx.as_ptr().cast(), unsafe { &*co });
    let ns = i64::try_from(timeout_ns).unwrap_or(i64::MAX);
    // SAFETY: `t` is live until both sides are done; only the side that
    // finishes second frees it, and we are not done yet.
    unsafe {
        sleep_ns_wakeable(
            SleepPtr(ptr::NonNull::new_unchecked(ptr::addr_of_mut!((*t).sleep))),
            QEMU_CLOCK_REALTIME,
            ns,
        );
        if (*t).finished {
            drop(Box::from_raw(t));
            return 0;
        }
        (*t).finished = true;
    }
    -libc::ETIMEDOUT
}
