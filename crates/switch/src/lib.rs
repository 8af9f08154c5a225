//! The stack switch: a `Fiber` is a stack with a suspended execution
//! context on it, and one slot that the switch swaps stack pointers through
//! (the contract, the frame layout and the unwind information are drawn at
//! the top of arch/x86_64.rs).
//!
//! The switch is symmetric (swap with the slot), and QEMU's model on top of
//! it is asymmetric: `resume` (enter) and `suspend` (yield, terminate) are
//! the same swap on the entered fiber's slot, with the sanitizer hooks on
//! either side. A fiber's body never returns; it loops, so a terminated
//! coroutine keeps its initialised stack and is re-armed by the pool just
//! by being resumed again.
//!
//! This module is the one place every switch and every stack's birth and
//! death pass through, so the sanitizer and Valgrind hooks live here (the
//! C API's and the backend's assembly entry points call the same hooks
//! through the core's begin/end helpers). The base both products build on
//! (the running coroutine, the leader, the body loop) is base.rs. The
//! assembly only switches;
//! checks, thread-locals and bookkeeping stay in Rust.

pub mod base;
pub mod stack;

/// cbindgen:ignore
#[cfg(target_arch = "x86_64")]
#[path = "arch/x86_64.rs"]
pub mod arch;

/// cbindgen:ignore
#[cfg(target_arch = "aarch64")]
#[path = "arch/aarch64.rs"]
pub mod arch;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("qemucoro has a stack switch for x86_64 and aarch64 only (crates/switch/src/arch/)");

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::stack::{Canary, Stack};
use qemucoro_util::sanitizer::FiberHooks;

pub use arch::{thread_block, StartFn, THREAD_BLOCK_SIZE};
pub use base::{body, Current, FiberOwner, Leader};

/// A stack plus the context suspended on it; or, with no stack, the
/// thread's own stack (a leader), which is only ever switched away from.
pub struct Fiber {
    /// The switch's slot: the fiber's saved stack pointer while it is
    /// suspended, its resumer's while it runs; 0 for a stackless fiber.
    sp: Cell<usize>,
    /// Usable stack as lowest address and size (0 for none), for the
    /// overflow report, ASan and the gdb script.
    bottom: Cell<usize>,
    size: Cell<usize>,
    stack: Cell<Option<Stack>>,
    /// The switch-out check of a software-checked stack (armed by
    /// `prepare`); None for a guarded stack or a leader.
    canary: Cell<Option<Canary>>,
    hooks: FiberHooks,
}

/// Field offsets for the gdb script (see coroutine/registry.rs).
pub mod layout {
    use super::Fiber;
    use std::mem::offset_of;
    pub const SP: usize = offset_of!(Fiber, sp);
    pub const BOTTOM: usize = offset_of!(Fiber, bottom);
    pub const SIZE: usize = offset_of!(Fiber, size);
}

impl Fiber {
    /// A fiber with no stack: a thread's own, or one not prepared yet.
    pub const fn empty() -> Fiber {
        Fiber {
            sp: Cell::new(0),
            bottom: Cell::new(0),
            size: Cell::new(0),
            stack: Cell::new(None),
            canary: Cell::new(None),
            hooks: FiberHooks::new(),
        }
    }

    /// Gives the fiber `stack`, arming its canary if it is software-checked;
    /// the first resume runs `body(arg, value)`.
    ///
    /// # Safety
    /// The fiber has no stack yet and does not move from now on (its slot's
    /// address is written on the stack, for the unwind information).
    pub unsafe fn prepare(&self, stack: Stack, body: StartFn, arg: *mut c_void) {
        let (bottom, size) = (stack.bottom() as usize, stack.size());
        let top = bottom + size - cache_colour();
        // SAFETY: a fresh stack nothing runs on; the fiber stays in place.
        let sp = unsafe { arch::init_stack(top, self.sp.as_ptr(), body, arg) };
        self.sp.set(sp);
        self.bottom.set(bottom);
        self.size.set(size);
        self.canary.set(stack.arm_canary());
        self.stack.set(Some(stack));
        self.hooks.init_fiber();
    }

    /// Whether the fiber has a stack of its own (is not a leader).
    #[inline(always)]
    pub fn has_stack(&self) -> bool {
        self.size.get() != 0
    }

    /// The usable stack as (lowest address, size); None for a leader.
    pub fn stack_bounds(&self) -> Option<(usize, usize)> {
        self.has_stack()
            .then(|| (self.bottom.get(), self.size.get()))
    }

    /// Starts loading a software-checked stack's band before switching in,
    /// so that `check_stack` after the switch back finds it in cache
    /// (stack.rs says why).
    #[inline(always)]
    pub fn prefetch_canary(&self) {
        if let Some(canary) = self.canary.get() {
            canary.prefetch();
        }
    }

    /// Calls `overflowed` (which should not return) if this fiber's software-checked stack was
    /// written below its bottom; for a fiber that is not running (switched
    /// out or about to be). The check is cold and out of line, so that the
    /// hot path of a guarded stack is one load and a test.
    #[inline(always)]
    pub fn check_stack<F: FnOnce()>(&self, overflowed: F) {
        if let Some(canary) = self.canary.get() {
            check_band(overflowed, canary);
        }
    }

    /// The slot to hand `switch` to enter or leave this fiber.
    #[inline(always)]
    pub fn slot(&self) -> *mut usize {
        self.sp.as_ptr()
    }

    /// On `from`'s stack, right before switching into this fiber.
    #[inline(always)]
    pub fn before_resume(&self, from: &Fiber) {
        self.hooks
            .before_resume(&from.hooks, self.bottom.get(), self.size.get());
    }

    /// On `from`'s stack, first thing after the fiber it resumed came back
    /// (only ASan has something to do there).
    #[inline(always)]
    #[allow(dead_code)] // called in ASan builds only
    pub fn after_resume(from: &Fiber) {
        FiberHooks::after_resume(&from.hooks);
    }

    /// On this fiber's stack, right before it switches back to its resumer
    /// (`last`: it terminated and has no frames left but its loop).
    #[inline(always)]
    pub fn before_suspend(&self, last: bool) {
        self.hooks.before_suspend(last);
    }

    /// On this fiber's stack, first thing after it was resumed or started.
    #[inline(always)]
    pub fn after_suspend(&self) {
        self.hooks.after_suspend();
    }

    /// Switches from this fiber (running) back to whoever resumed it;
    /// returns the value of the next resume.
    ///
    /// # Safety
    /// Runs on this fiber's stack, which was resumed and not yet suspended.
    #[inline(always)]
    pub unsafe fn suspend(&self, value: u32, last: bool) -> u32 {
        self.before_suspend(last);
        // SAFETY: per the contract, the slot holds the resumer's context.
        let back = unsafe { switch(self.slot(), value) };
        self.after_suspend();
        back
    }
}

/// `Fiber::check_stack`'s cold half: saves no register on the hot path.
#[cold]
#[inline(never)]
fn check_band<F: FnOnce()>(overflowed: F, canary: Canary) {
    if !canary.intact() {
        overflowed();
    }
}

/// How far below its top a stack's first frame may start, in cache lines.
const COLOURS: usize = 16;

/// Bytes to start a new stack's first frame below its top: 0 to
/// `COLOURS - 1` cache lines, fixed for the stack's life (pooled
/// coroutines keep it).
///
/// Stack tops all sit at the same offset within a page, and the offset
/// within a page is what picks a line's L1 set (the L2 adds bits of the
/// physical page, which the kernel picks): without this every coroutine's
/// hot frames fall into the same few L1 sets, and a few dozen live
/// coroutines evict each other's frames (1000-deep nesting: about 53 ns a
/// coroutine without, about 30 with). Stacks made in a row, as a nest's
/// are, get the colours in turn. 16 colours cost at most 960 bytes of the
/// top page.
fn cache_colour() -> usize {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    MADE.fetch_add(1, Ordering::Relaxed) % COLOURS * 64
}

/// The raw switch: stores the running side's context in `*slot` and runs
/// the one that was there, which receives `value`. Returns the value
/// passed by the switch that comes back here.
///
/// # Safety
/// `*slot` holds a suspended context (see arch/x86_64.rs), and the running
/// side's context is only resumed through `*slot`.
#[inline(always)]
pub unsafe fn switch(slot: *mut usize, value: u32) -> u32 {
    // SAFETY: per the contract.
    unsafe { arch::call_switch(slot, value as usize) as u32 }
}
