//! fork(): the library's process-wide locks are taken before a fork and
//! released after it on both sides (pthread_atfork), so a child forked
//! while another thread was inside the library (for example walking the
//! registry in `qemucoro_get_stats`) does not inherit a lock nobody will
//! ever release. The child can then create and run coroutines and make new
//! AioContexts. Per-context locks (timers, fd handlers) are not taken: a
//! child must not use the parent's AioContexts (docs/design.md).
//!
//! Registered once per process by init.rs, the first time a thread touches
//! coroutine state. glibc binds the handlers to this library, so dlclose
//! removes them.

use std::cell::UnsafeCell;

use crate::{pool, registry};
use qemucoro_switch::stack;

/// The guards held from prepare to parent/child.
struct Held(UnsafeCell<Option<Guards>>);

struct Guards {
    _registry: registry::ForkGuard,
    _pool: pool::ForkGuard,
    slabs: stack::ForkGuard,
}

// SAFETY: only the atfork handlers touch it, and glibc runs them under its
// own fork lock, from prepare to parent/child, on the forking thread.
unsafe impl Sync for Held {}

static HELD: Held = Held(UnsafeCell::new(None));

/// Registers the handlers (once per process: init.rs).
pub fn register() {
    // SAFETY: the three handlers are plain functions of this library.
    unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(in_child)) };
}

extern "C" fn prepare() {
    // Lazily computed values first: a child must not find one half made.
    stack::force_lazy_values();
    pool::force_lazy_values();
    let guards = Guards {
        _registry: registry::lock_for_fork(),
        _pool: pool::lock_for_fork(),
        slabs: stack::lock_for_fork(),
    };
    // SAFETY: see `Held`.
    unsafe { *HELD.0.get() = Some(guards) };
}

/// The child's half: stack guards the child lost are made again first.
extern "C" fn in_child() {
    // SAFETY: see `Held`.
    if let Some(guards) = unsafe { (*HELD.0.get()).as_mut() } {
        guards.slabs.rearm_in_child();
    }
    release();
}

extern "C" fn release() {
    // SAFETY: see `Held`.
    drop(unsafe { (*HELD.0.get()).take() });
}
