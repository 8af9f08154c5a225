//! Sleeping until woken (QEMU's util/qemu-coroutine-sleep.c, but for the
//! timer): `QemuCoSleep` records the sleeper for whoever wakes it, a timer
//! of the event loop or another coroutine.
//!
//! A sleeping coroutine marks itself scheduled by "qemu_co_sleep_ns", so
//! that entering or scheduling it by any other path aborts with QEMU's
//! message. The timed sleep (`qemu_co_sleep_ns_wakeable`) belongs to the
//! event loop that owns the timer: ours (qemucoro-aio) or QEMU's.

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use qemucoro_coroutine::wait::{NO_DEADLINE, WAIT_SLEEP};
use qemucoro_coroutine::{self as coroutine, Coroutine};
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
pub struct SleepPtr(pub ptr::NonNull<QemuCoSleep>);

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

    pub fn as_opaque(self) -> *mut c_void {
        self.0.as_ptr().cast()
    }
}

/// `qemu_co_sleep`: yields until `qemu_co_sleep_wake(w)`.
pub fn sleep(w: SleepPtr) {
    sleep_for(w, NO_DEADLINE);
}

/// `qemu_co_sleep`, recording `ns` (or NO_DEADLINE) as the wait's length.
pub fn sleep_for(w: SleepPtr, ns: usize) {
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
    coroutine::wake(co);
}
