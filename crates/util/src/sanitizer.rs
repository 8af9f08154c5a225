//! What ThreadSanitizer and AddressSanitizer must be told about stack
//! switches, behind the cargo features `tsan` and `asan`. Without them every
//! hook here is an empty inline function, so the default build's switch path
//! is unchanged. (Valgrind needs no feature: stack.rs registers each stack
//! with a client request that is a few no-op instructions natively, once per
//! stack birth and death.)
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
//! itself, `util::mutex::Mutex` (pool, slab stacks, timers, fd handlers,
//! the thread pool's queue) and its `Condvar`, a thread pool request's
//! completion (per request), `aio_wait_bh_oneshot`'s done flag, an
//! AioContext's last reference, and the main context's publication.
//! Iothreads make their context before starting the thread, which TSan
//! sees by itself.
//!
//! Fibers (qemucoro-switch) call `FiberHooks` around every switch, in both
//! modes (the C API and the QEMU backend share them).

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

/// The sanitizer state of one stack (a coroutine's, or a thread's own for
/// its leader): under TSan, its fiber and the fiber that last switched to
/// it; under ASan, its fake stack while it is switched out and the bounds
/// of the stack that last switched to it; empty otherwise, and every hook
/// below then compiles to nothing.
///
/// The order for a switch from A into B and back (qemucoro-switch follows
/// it): `B.before_resume(A)`, switch, on B `B.after_suspend()` (or, on a
/// fresh stack, first thing); later on B `B.before_suspend(..)`, switch,
/// on A `FiberHooks::after_resume(A)`.
pub struct FiberHooks {
    #[cfg(feature = "tsan")]
    fiber: Cell<*mut c_void>,
    #[cfg(feature = "tsan")]
    caller: Cell<*mut c_void>,
    #[cfg(feature = "asan")]
    fake_stack: Cell<*mut c_void>,
    #[cfg(feature = "asan")]
    parent: Cell<(usize, usize)>,
}

#[cfg(any(feature = "tsan", feature = "asan"))]
use std::cell::Cell;

impl FiberHooks {
    /// The state of a stack that is not a fiber yet (or never will be).
    pub const fn new() -> FiberHooks {
        FiberHooks {
            #[cfg(feature = "tsan")]
            fiber: Cell::new(std::ptr::null_mut()),
            #[cfg(feature = "tsan")]
            caller: Cell::new(std::ptr::null_mut()),
            #[cfg(feature = "asan")]
            fake_stack: Cell::new(std::ptr::null_mut()),
            #[cfg(feature = "asan")]
            parent: Cell::new((0, 0)),
        }
    }

    /// Makes this a fiber's state (once, when its stack is laid out).
    pub fn init_fiber(&self) {
        #[cfg(feature = "tsan")]
        // SAFETY: creating a fiber has no preconditions.
        self.fiber.set(unsafe { tsan::__tsan_create_fiber(0) });
    }

    /// On `from`'s stack, right before it switches into this fiber, whose
    /// stack is `[bottom, bottom + size)`.
    #[inline(always)]
    #[allow(unused_variables)]
    pub fn before_resume(&self, from: &FiberHooks, bottom: usize, size: usize) {
        #[cfg(feature = "tsan")]
        // SAFETY: `fiber` is live until drop; flags 0 makes the switch a
        // synchronisation, as a real stack switch is.
        unsafe {
            self.caller.set(tsan::__tsan_get_current_fiber());
            tsan::__tsan_switch_to_fiber(self.fiber.get(), 0);
        }
        #[cfg(feature = "asan")]
        // SAFETY: a switch to that stack follows; `from` keeps its fake
        // stack until it is switched back to.
        unsafe {
            __sanitizer_start_switch_fiber(from.fake_stack.as_ptr(), bottom as *const c_void, size)
        };
    }

    /// On `from`'s stack, first thing after a fiber it resumed switched back.
    #[inline(always)]
    #[allow(dead_code)] // called in ASan builds only
    #[allow(unused_variables)]
    pub fn after_resume(from: &FiberHooks) {
        #[cfg(feature = "asan")]
        // SAFETY: follows the start of the switch that came back here.
        unsafe {
            __sanitizer_finish_switch_fiber(
                from.fake_stack.get(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// On this fiber's stack right before it switches back to whoever
    /// resumed it. `last`: its frames are all gone (a terminated coroutine
    /// parked in its loop), so ASan frees its fake stack now rather than
    /// keep it for a coroutine that may be freed without running again.
    #[inline(always)]
    #[allow(unused_variables)]
    pub fn before_suspend(&self, last: bool) {
        #[cfg(feature = "tsan")]
        // SAFETY: `caller` was current when it resumed us, so it is live.
        unsafe {
            tsan::__tsan_switch_to_fiber(self.caller.get(), 0)
        };
        #[cfg(feature = "asan")]
        {
            let save = if last {
                self.fake_stack.set(std::ptr::null_mut());
                std::ptr::null_mut()
            } else {
                self.fake_stack.as_ptr()
            };
            let (bottom, size) = self.parent.get();
            // SAFETY: a switch back to the parent's stack follows.
            unsafe { __sanitizer_start_switch_fiber(save, bottom as *const c_void, size) };
        }
    }

    /// On this fiber's stack, first thing after it was switched to (also
    /// on a fresh stack's first entry).
    #[inline(always)]
    pub fn after_suspend(&self) {
        #[cfg(feature = "asan")]
        {
            let (mut bottom, mut size) = (std::ptr::null(), 0);
            // SAFETY: follows the start of the switch that landed here.
            unsafe {
                __sanitizer_finish_switch_fiber(self.fake_stack.get(), &mut bottom, &mut size)
            };
            self.parent.set((bottom as usize, size));
        }
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
        let fiber = self.fiber.get();
        if !fiber.is_null() {
            // SAFETY: the stack is not running (it is being freed), so its
            // fiber is not the current one.
            unsafe { tsan::__tsan_destroy_fiber(fiber) };
        }
    }
}

/// Tells TSan that what this thread did so far happens before whatever a
/// later `acquire(addr)` follows (a hand-off through uninstrumented code).
#[inline(always)]
pub fn release(_addr: *const u8) {
    #[cfg(feature = "tsan")]
    // SAFETY: __tsan_release only records a clock for the address.
    unsafe {
        tsan::__tsan_release(_addr.cast_mut().cast())
    };
}

/// The other side of `release`.
#[inline(always)]
pub fn acquire(_addr: *const u8) {
    #[cfg(feature = "tsan")]
    // SAFETY: __tsan_acquire only reads the clock recorded for the address.
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
