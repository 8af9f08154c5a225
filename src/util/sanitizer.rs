//! What ThreadSanitizer and AddressSanitizer must be told about stack
//! switches, behind the cargo features `tsan` and `asan`. Without them every
//! hook here is an empty inline function, so the default build's switch path
//! is unchanged. (Valgrind needs no feature: switch/stack.rs registers each
//! stack with a client request that is a few no-op instructions natively,
//! once per stack birth and death.)
//!
//! The library's own Rust code is not instrumented (that needs nightly's
//! `-Zsanitizer`); the sanitizer runtime comes from the instrumented C
//! program that links us (gcc's libasan/libtsan). So TSan sees C code only,
//! and where the library hands a coroutine or data from one thread to
//! another it must say so with `release`/`acquire`, as QEMU's ucontext
//! backend does. The hand-offs, each released before the atomic that
//! publishes and acquired after the one that takes, on the same address:
//! the push list of scheduled coroutines and bottom halves (per item), a
//! bottom half's flags, the spinlock (CoRwlock, CoMutex's queue), CoMutex
//! itself, `util::mutex::Mutex` (pool, slab stacks, timers, fd handlers), an
//! AioContext's last reference, and the main context's publication.
//! Iothreads make their context before starting the thread, which TSan
//! sees by itself.
//!
//! Fibers (switch/mod.rs) call these for every switch; another backend
//! reusing switch/stack.rs gets Valgrind for free and calls `FiberHooks` and
//! `asan_start_switch`/`asan_finish_switch` around its own switch.

#[cfg(any(feature = "tsan", feature = "asan"))]
use std::ffi::c_void;

#[cfg(feature = "tsan")]
mod tsan {
    use std::ffi::{c_uint, c_void};

    extern "C" {
        pub fn __tsan_get_current_fiber() -> *mut c_void;
        pub fn __tsan_create_fiber(flags: c_uint) -> *mut c_void;
        pub fn __tsan_destroy_fiber(fiber: *mut c_void);
        pub fn __tsan_switch_to_fiber(fiber: *mut c_void, flags: c_uint);
        pub fn __tsan_acquire(addr: *mut c_void);
        pub fn __tsan_release(addr: *mut c_void);
    }
}

/// The sanitizer state of one stack: under TSan, its fiber and the fiber
/// that last switched to it; empty otherwise.
pub struct FiberHooks {
    #[cfg(feature = "tsan")]
    fiber: *mut c_void,
    #[cfg(feature = "tsan")]
    caller: std::cell::Cell<*mut c_void>,
}

impl FiberHooks {
    pub fn new() -> FiberHooks {
        FiberHooks {
            // SAFETY: creating a fiber has no preconditions.
            #[cfg(feature = "tsan")]
            fiber: unsafe { tsan::__tsan_create_fiber(0) },
            #[cfg(feature = "tsan")]
            caller: std::cell::Cell::new(std::ptr::null_mut()),
        }
    }

    /// Call right before switching onto this stack.
    #[inline(always)]
    pub fn before_resume(&self) {
        // SAFETY: `fiber` is live until drop; flags 0 makes the switch a
        // synchronisation, as a real stack switch is.
        #[cfg(feature = "tsan")]
        unsafe {
            self.caller.set(tsan::__tsan_get_current_fiber());
            tsan::__tsan_switch_to_fiber(self.fiber, 0);
        }
    }

    /// Call on this stack right before switching back to whoever resumed it.
    #[inline(always)]
    pub fn before_suspend(&self) {
        // SAFETY: `caller` was current when it resumed us, so it is live.
        #[cfg(feature = "tsan")]
        unsafe {
            tsan::__tsan_switch_to_fiber(self.caller.get(), 0)
        };
    }
}

impl Default for FiberHooks {
    fn default() -> FiberHooks {
        FiberHooks::new()
    }
}

#[cfg(feature = "tsan")]
impl Drop for FiberHooks {
    fn drop(&mut self) {
        // SAFETY: the stack is not running (it is being freed), so its fiber
        // is not the current one.
        unsafe { tsan::__tsan_destroy_fiber(self.fiber) };
    }
}

/// Tells TSan that what this thread did so far happens before whatever a
/// later `acquire(addr)` follows (a hand-off through uninstrumented code).
#[inline(always)]
pub fn release(_addr: *const u8) {
    // SAFETY: __tsan_release only records a clock for the address.
    #[cfg(feature = "tsan")]
    unsafe {
        tsan::__tsan_release(_addr.cast_mut().cast())
    };
}

/// The other side of `release`.
#[inline(always)]
pub fn acquire(_addr: *const u8) {
    // SAFETY: __tsan_acquire only reads the clock recorded for the address.
    #[cfg(feature = "tsan")]
    unsafe {
        tsan::__tsan_acquire(_addr.cast_mut().cast())
    };
}

#[cfg(feature = "asan")]
extern "C" {
    fn __sanitizer_start_switch_fiber(save: *mut *mut c_void, bottom: *const c_void, size: usize);
    fn __sanitizer_finish_switch_fiber(
        save: *mut c_void,
        bottom_old: *mut *const c_void,
        size_old: *mut usize,
    );
}

// For the QEMU backend (which switches QEMU's stacks itself); without
// `asan` their only caller, asan_drop_fake_stack, compiles to nothing.
#[cfg(feature = "qemu-backend")]
#[cfg_attr(not(feature = "asan"), allow(dead_code))]
/// For a backend that switches stacks itself (fibers get this from
/// corosensei's `sanitizer` feature): call right before switching to the
/// stack `[bottom, bottom + size)`, passing where to keep the fake stack
/// (NULL when leaving a stack for good).
///
/// # Safety
/// As `__sanitizer_start_switch_fiber`: a switch to that stack follows.
#[inline(always)]
#[allow(unused_variables)]
pub unsafe fn asan_start_switch(save: *mut *mut std::ffi::c_void, bottom: usize, size: usize) {
    // SAFETY: per the contract.
    #[cfg(feature = "asan")]
    unsafe {
        __sanitizer_start_switch_fiber(save, bottom as *const c_void, size)
    };
}

#[cfg(feature = "qemu-backend")]
#[cfg_attr(not(feature = "asan"), allow(dead_code))]
/// Call first thing after a switch lands, with what `asan_start_switch`
/// saved for this stack (NULL on a stack's first entry); returns the bounds
/// of the stack we came from.
///
/// # Safety
/// As `__sanitizer_finish_switch_fiber`: it follows the matching start.
#[inline(always)]
#[allow(unused_variables)]
pub unsafe fn asan_finish_switch(save: *mut std::ffi::c_void) -> (usize, usize) {
    #[cfg(feature = "asan")]
    {
        let (mut bottom, mut size) = (std::ptr::null(), 0);
        // SAFETY: per the contract.
        unsafe { __sanitizer_finish_switch_fiber(save, &mut bottom, &mut size) };
        (bottom as usize, size)
    }
    #[cfg(not(feature = "asan"))]
    (0, 0)
}

#[cfg(feature = "qemu-backend")]
/// For a stack that stays parked after its last instrumented frame returned
/// (a terminated QEMU coroutine, whose fiber loops in uninstrumented Rust
/// until it is re-entered or freed): frees ASan's fake stack for it now,
/// with a switch from the stack `[bottom, bottom + size)` to itself that
/// saves nothing. Otherwise a coroutine freed in that state would leak its
/// fake stack (with `detect_stack_use_after_return`, megabytes each); the
/// next entry simply starts a fresh one.
///
/// # Safety
/// Runs on that stack, and no instrumented frame on it is live.
#[inline(always)]
#[allow(unused_variables)]
pub unsafe fn asan_drop_fake_stack(bottom: usize, size: usize) {
    // SAFETY: a switch to the stack we are on lands at once; per the
    // contract no live frame uses the fake stack being freed.
    #[cfg(feature = "asan")]
    unsafe {
        asan_start_switch(std::ptr::null_mut(), bottom, size);
        asan_finish_switch(std::ptr::null_mut());
    }
}
