//! Sleeping coroutines (QEMU's util/qemu-coroutine-sleep.c) and running a
//! coroutine against a deadline (util/qemu-co-timeout.c).
//!
//! A sleeping coroutine marks itself scheduled by "qemu_co_sleep", so that
//! entering or scheduling it by any other path aborts with QEMU's message,
//! and records itself in the caller's `QemuCoSleep` for the waker.

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::util::abort::die;
use crate::aio::timer::{QEMUClockType, QEMUTimer, QEMU_CLOCK_REALTIME, SCALE_NS};
use crate::aio::{self};
use crate::coroutine::{self, Coroutine, CoroutineEntry};

/// What a sleep is waiting for: embed it (usually on the sleeper's stack)
/// and pass it to `qemu_co_sleep_wake` to end the sleep early.
#[repr(C)]
pub struct QemuCoSleep {
    /// The sleeping coroutine, NULL when none sleeps.
    pub to_wake: *mut Coroutine,
}

const _: () = assert!(std::mem::size_of::<QemuCoSleep>() == std::mem::size_of::<usize>());
const _: () = assert!(std::mem::align_of::<QemuCoSleep>() == std::mem::align_of::<usize>());

/// The name a sleeping coroutine is marked with (one pointer, compared).
static SLEEP: &CStr = c"qemu_co_sleep_ns";

fn to_wake(w: &QemuCoSleep) -> &AtomicPtr<Coroutine> {
    // SAFETY: AtomicPtr<T> has the layout of *mut T; C and the waker may
    // touch the field from different threads, so every Rust access is atomic.
    unsafe { &*ptr::addr_of!(w.to_wake).cast::<AtomicPtr<Coroutine>>() }
}

/// `qemu_co_sleep`: yields until `qemu_co_sleep_wake(w)`.
pub fn sleep(w: &QemuCoSleep) {
    let co = coroutine::running_or_abort("qemu_co_sleep");
    if let Err(prev) = co.scheduled.compare_exchange(
        ptr::null_mut(),
        SLEEP.as_ptr().cast_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: `scheduled` only ever holds NUL-terminated static names.
        let prev = unsafe { CStr::from_ptr(prev) };
        die(format_args!(
            "qemu_co_sleep: Co-routine was already scheduled in '{}'",
            prev.to_string_lossy()
        ));
    }
    to_wake(w).store(ptr::from_ref(co).cast_mut(), Ordering::Release);
    coroutine::yield_now();
}

/// `qemu_co_sleep_wake`: ends the sleep recorded in `w`, if any, by waking
/// the sleeper in its own context.
pub fn wake(w: &QemuCoSleep) {
    let co = to_wake(w).swap(ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a recorded sleeper is live: it cannot run until woken here.
    let Some(co) = (unsafe { co.as_ref() }) else { return };
    let was = co.scheduled.swap(ptr::null_mut(), Ordering::AcqRel);
    if !ptr::eq(was, SLEEP.as_ptr()) {
        die(format_args!("qemu_co_sleep_wake: the coroutine in QemuCoSleep is not sleeping"));
    }
    aio::wake(co);
}

unsafe extern "C" fn timer_expired(opaque: *mut c_void) {
    // SAFETY: the timer is armed with its sleep's QemuCoSleep, which lives
    // until the timer is deleted after the sleep.
    wake(unsafe { &*opaque.cast::<QemuCoSleep>() });
}

/// `qemu_co_sleep_ns_wakeable`: sleeps `ns` of `clock` in the current
/// context, or less if woken through `w`.
pub fn sleep_ns_wakeable(w: &QemuCoSleep, clock: QEMUClockType, ns: i64) {
    coroutine::running_or_abort("qemu_co_sleep_ns_wakeable");
    clock.index("qemu_co_sleep_ns_wakeable");
    let ctx = aio::require_context("qemu_co_sleep_ns_wakeable");
    let opaque = ptr::from_ref(w).cast_mut().cast();
    let timer = QEMUTimer::new(ctx, clock, SCALE_NS, timer_expired, opaque);
    timer.arm_ns(clock.now_ns().saturating_add(ns));
    sleep(w);
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
            wake(&(*t).sleep);
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
    let ctx = aio::require_context("qemu_co_timeout");
    let t = Box::into_raw(Box::new(Timeout {
        entry,
        opaque,
        clean,
        sleep: QemuCoSleep { to_wake: ptr::null_mut() },
        finished: false,
    }));
    let co = coroutine::create(timeout_entry, t.cast());
    // From inside a coroutine this runs `co` once we yield in the sleep.
    // SAFETY: `create` returns a live coroutine.
    aio::enter_in(ctx.as_ptr().cast(), unsafe { &*co });
    let ns = i64::try_from(timeout_ns).unwrap_or(i64::MAX);
    // SAFETY: `t` is live until both sides are done; only the side that
    // finishes second frees it, and we are not done yet.
    unsafe {
        sleep_ns_wakeable(&(*t).sleep, QEMU_CLOCK_REALTIME, ns);
        if (*t).finished {
            drop(Box::from_raw(t));
            return 0;
        }
        (*t).finished = true;
    }
    -libc::ETIMEDOUT
}
