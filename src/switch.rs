//! PLACEHOLDER for branch `qemu` until main's src/switch.rs lands: a Fiber is
//! a stack plus a corosensei context. On merge, main's version wins.

use std::convert::Infallible;
use std::ffi::c_void;

use corosensei::{Coroutine as RawCoroutine, CoroutineResult};

use crate::stack::Stack;

/// `suspend(v)` hands `v` to the resumer and returns the next resume value.
pub type Suspender = corosensei::Yielder<u32, u32>;

/// The function a fiber runs; it must never return.
pub type FiberBody = unsafe fn(arg: *mut c_void, suspender: &Suspender, first: u32) -> !;

/// A stack plus the context suspended on it.
pub struct Fiber {
    inner: RawCoroutine<u32, u32, Infallible, Stack>,
}

// SAFETY: the frames on a fiber's stack hold no thread-affine Rust values, so
// resuming it on another thread is sound (QEMU's model requires it).
unsafe impl Send for Fiber {}

impl Fiber {
    /// Prepares `body(arg, ..)` to start on `stack` at the first resume.
    pub fn new(stack: Stack, body: FiberBody, arg: *mut c_void) -> Fiber {
        let arg = SendPtr(arg);
        let inner = RawCoroutine::with_stack(stack, move |s: &Suspender, first: u32| {
            let arg = arg;
            // SAFETY: body and arg were handed over together by the caller.
            unsafe { body(arg.0, s, first) }
        });
        Fiber { inner }
    }

    /// Switches into the fiber; returns the value it passed to `suspend`.
    #[inline]
    pub fn resume(&mut self, val: u32) -> u32 {
        match self.inner.resume(val) {
            CoroutineResult::Yield(v) => v,
            CoroutineResult::Return(never) => match never {},
        }
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        if self.inner.started() {
            // SAFETY: a started fiber is parked in its body's loop, which
            // holds nothing with Drop code; corosensei would try to unwind.
            unsafe { self.inner.force_reset() };
        }
    }
}

/// A raw pointer that may cross into the fiber's closure.
struct SendPtr(*mut c_void);
