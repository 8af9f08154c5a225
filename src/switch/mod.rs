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

/// cbindgen:ignore
#[cfg(feature = "bench-floor")]
pub(crate) mod floor;
pub(crate) mod stack;

use std::convert::Infallible;
use std::ffi::c_void;
use std::ptr;

use corosensei::{Coroutine as RawCoroutine, CoroutineResult};

use crate::util::sanitizer::FiberHooks;
use crate::switch::stack::Stack;

type RawYielder = corosensei::Yielder<u32, u32>;

/// The handle a fiber's body suspends through: `suspend(v)` hands `v` to the
/// resumer and returns the value of the next `resume`. It lives on the
/// fiber's own stack, in the frame that calls the body.
pub struct Suspender {
    yielder: *const RawYielder,
    hooks: *const FiberHooks,
}

impl Suspender {
    #[inline]
    pub fn suspend(&self, val: u32) -> u32 {
        // SAFETY: both point into the fiber (its stack and its box), which
        // is alive while code runs on it.
        unsafe {
            (*self.hooks).before_suspend();
            (*self.yielder).suspend(val)
        }
    }
}

/// The function a fiber runs. It must never return.
pub type FiberBody = unsafe fn(arg: *mut c_void, suspender: &Suspender, first: u32) -> !;

/// A stack plus the context suspended on it.
pub struct Fiber {
    inner: RawCoroutine<u32, u32, Infallible, Stack>,
    bottom: usize,
    size: usize,
    /// Sanitizer state (empty in the default build), boxed so that the
    /// Suspender on the fiber's stack can point to it.
    hooks: Box<FiberHooks>,
}

/// Field offsets for the gdb scripts (see coroutine/registry.rs, and
/// qemu_backend's layout for QEMU's commands).
// (The QEMU backend reads only INNER and INNER_SIZE.)
#[cfg_attr(feature = "qemu-backend", allow(dead_code))]
pub(crate) mod layout {
    use super::{Fiber, RawCoroutine, Stack};
    use std::convert::Infallible;
    use std::mem::{offset_of, size_of};
    pub const BOTTOM: usize = offset_of!(Fiber, bottom);
    pub const SIZE: usize = offset_of!(Fiber, size);
    pub const INNER: usize = offset_of!(Fiber, inner);
    pub const INNER_SIZE: usize = size_of::<RawCoroutine<u32, u32, Infallible, Stack>>();
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
        let hooks = Box::new(FiberHooks::new());
        let (arg, hooks_ptr) = (SendPtr(arg), SendPtr(ptr::from_ref(&*hooks).cast_mut().cast()));
        let inner = RawCoroutine::with_stack(stack, move |y: &RawYielder, first: u32| {
            let (arg, hooks) = (arg, hooks_ptr);
            let s = Suspender { yielder: y, hooks: hooks.0.cast_const().cast() };
            // SAFETY: body's contract is the caller's (it was handed to us as
            // an unsafe fn together with the arg it expects).
            unsafe { body(arg.0, &s, first) }
        });
        Fiber { inner, bottom, size, hooks }
    }

    /// Switches into the fiber; returns the value it passed to `suspend`.
    #[inline]
    pub fn resume(&mut self, val: u32) -> u32 {
        self.hooks.before_resume();
        match self.inner.resume(val) {
            CoroutineResult::Yield(v) => v,
            CoroutineResult::Return(never) => match never {},
        }
    }

    /// The usable stack as (lowest address, size in bytes), for the QEMU
    /// backend (the library's coroutines keep their own copy). corosensei
    /// owns the Stack itself; the bounds are kept for introspection.
    #[cfg(feature = "qemu-backend")]
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
