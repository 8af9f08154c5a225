//! The stack switch: a `Fiber` is a stack with a suspended execution context
//! on it, switched in and out through corosensei.
//!
//! corosensei's switch is asymmetric, which is exactly QEMU's model: `resume`
//! runs the fiber until it calls `suspend`, and `suspend` always returns to
//! whoever resumed it. A fiber's body never returns; it loops, so a
//! terminated coroutine keeps its initialised stack and is re-armed by the
//! pool just by being resumed again.
//!
//! This module is the one place every switch and every stack's birth and
//! death pass through, so the sanitizer and Valgrind hooks live here.

use std::convert::Infallible;
use std::ffi::c_void;

use corosensei::{Coroutine as RawCoroutine, CoroutineResult};

use crate::stack::Stack;

/// The handle a fiber's body suspends through: `suspend(v)` hands `v` to the
/// resumer and returns the value of the next `resume`.
pub type Suspender = corosensei::Yielder<u32, u32>;

/// The function a fiber runs. It must never return.
pub type FiberBody = unsafe fn(arg: *mut c_void, suspender: &Suspender, first: u32) -> !;

/// A stack plus the context suspended on it.
pub struct Fiber {
    inner: RawCoroutine<u32, u32, Infallible, Stack>,
    bottom: usize,
    size: usize,
}

// SAFETY: the only frames on a fiber's stack are our trampoline (which holds
// raw pointers, no thread-affine Rust values) and C code, which QEMU's model
// already allows to resume on another thread. So moving the fiber to another
// thread between switches is sound.
unsafe impl Send for Fiber {}

impl Fiber {
    /// Prepares `body(arg, ..)` to start on `stack` at the first resume.
    pub fn new(stack: Stack, body: FiberBody, arg: *mut c_void) -> Fiber {
        let (bottom, size) = (stack.bottom() as usize, stack.size());
        let arg = SendPtr(arg);
        let inner = RawCoroutine::with_stack(stack, move |s: &Suspender, first: u32| {
            let arg = arg;
            // SAFETY: body's contract is the caller's (it was handed to us as
            // an unsafe fn together with the arg it expects).
            unsafe { body(arg.0, s, first) }
        });
        Fiber { inner, bottom, size }
    }

    /// Switches into the fiber; returns the value it passed to `suspend`.
    #[inline]
    pub fn resume(&mut self, val: u32) -> u32 {
        match self.inner.resume(val) {
            CoroutineResult::Yield(v) => v,
            CoroutineResult::Return(never) => match never {},
        }
    }

    /// The usable stack as (lowest address, size in bytes). corosensei owns
    /// the Stack itself; the bounds are kept for introspection.
    pub fn stack_bounds(&self) -> (usize, usize) {
        (self.bottom, self.size)
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        // A started fiber is parked in its body's loop with no Rust values
        // that need dropping, so discarding the context is all that is needed;
        // corosensei would otherwise try to unwind it.
        if self.inner.started() {
            // SAFETY: as above: nothing on the fiber's stack has Drop code.
            unsafe { self.inner.force_reset() };
        }
    }
}

/// A raw pointer that may cross into the fiber's closure.
struct SendPtr(*mut c_void);
