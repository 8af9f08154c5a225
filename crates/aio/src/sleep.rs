//! Sleeping coroutines (QEMU's util/qemu-coroutine-sleep.c) and running a
//! coroutine against a deadline (util/qemu-co-timeout.c).
//!
//! A sleeping coroutine marks itself scheduled by "qemu_co_sleep", so that
//! entering or scheduling it by any other path aborts with QEMU's message,
//! and records itself in the caller's `QemuCoSleep` for the waker.

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::timer::{QEMUClockType, QEMUTimer, QEMU_CLOCK_REALTIME, SCALE_NS};

use qemucoro_coroutine::wait::{NO_DEADLINE, WAIT_SLEEP};
use qemucoro_coroutine::{self as coroutine, Coroutine, CoroutineEntry};
use qemucoro_util::abort::die;

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

/// A `QemuCoSleep` reached through a raw pointer from C (or from our own
/// stack). C and wakers on other threads write `to_wake` while we hold
/// this, and the field is no `UnsafeCell` (its C layout is one plain
/// pointer), so it is never borrowed as `&QemuCoSleep`: every access goes
/// through `AtomicPtr::from_ptr` on the raw pointer, which may be written.
#[derive(Clone, Copy)]
pub struct SleepPtr(ptr::NonNull<QemuCoSleep>);

impl SleepPtr {
    /// `w` as C passed it; NULL aborts naming `func`.
    pub fn from_c(func: &str, w: *mut QemuCoSleep) -> SleepPtr {
        match ptr::NonNull::new(w) {
            Some(w) => SleepPtr(w),
            None => qemucoro_util::abort::null_arg(func, "w"),
        }
    }

    fn to_wake(self) -> &'static AtomicPtr<Coroutine> {
        // SAFETY: the pointer came from C (or a `&mut`) and the object lives
        // for the whole sleep or wake call (the API's contract); AtomicPtr<T>
        // has the layout of *mut T, and every Rust access to the field is
        // atomic, as is QEMU's.
        unsafe { AtomicPtr::from_ptr(ptr::addr_of_mut!((*self.0.as_ptr()).to_wake)) }
    }

    fn as_opaque(self) -> *mut c_void {
        self.0.as_ptr().cast()
    }
}

/// `qemu_co_sleep`: yields until `qemu_co_sleep_wake(w)`.
pub fn sleep(w: SleepPtr) {
    sleep_for(w, NO_DEADLINE);
}

/// `qemu_co_sleep`, recording `ns` (or NO_DEADLINE) as the wait's length.
fn sleep_for(w: SleepPtr, ns: usize) {
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
    co.wait.begin(WAIT_SLEEP, w.as_opaque(), ns);
    w.to_wake()
        .store(ptr::from_ref(co).cast_mut(), Ordering::Release);
    coroutine::yield_now();
    co.wait.end();
}

/// `qemu_co_sleep_wake`: ends the sleep recorded in `w`, if any, by waking
/// the sleeper in its own context.
pub fn wake(w: SleepPtr) {
    let co = w.to_wake().swap(ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a recorded sleeper is live: it cannot run until woken here.
    let Some(co) = (unsafe { co.as_ref() }) else {
        return;
    };
    let was = co.scheduled.swap(ptr::null_mut(), Ordering::AcqRel);
    if !ptr::eq(was, SLEEP.as_ptr()) {
        die(format_args!(
            "qemu_co_sleep_wake: the coroutine in QemuCoSleep is not sleeping"
        ));
    }
    crate::wake(co);
}

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
