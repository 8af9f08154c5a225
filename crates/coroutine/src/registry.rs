//! The registry of every coroutine that has a stack, live or pooled: an
//! intrusive doubly linked list through `Coroutine::registry`.
//!
//! It changes only when a stack is mapped or unmapped (rare: the pool keeps
//! stacks), never on create, enter or yield, so it costs the hot paths
//! nothing. Two readers use it: `qemucoro_get_stats` (under the lock) and the
//! gdb script (gdb/qemucoro.py), which walks it in a stopped process or a
//! core dump through the symbols `qemucoro_registry` and
//! `qemucoro_gdb_layout`. Those symbols must survive linking, hence
//! `#[used]` and fixed export names.

use std::cell::Cell;
use std::mem::offset_of;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::wait::{Wait, HELD_SLOTS};
use crate::Coroutine;

/// A coroutine's place in the registry.
pub struct Link {
    prev: Cell<*const Coroutine>,
    next: Cell<*const Coroutine>,
}

impl Link {
    pub const fn new() -> Link {
        Link {
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
        }
    }
}

impl Default for Link {
    fn default() -> Link {
        Link::new()
    }
}

/// Serialises changes and walks; the head itself is a plain pointer so
/// that gdb can read it.
static LOCK: Mutex<()> = Mutex::new(());

/// The first registered coroutine (read by gdb as `qemucoro_registry`).
#[used]
#[export_name = "qemucoro_registry"]
static HEAD: AtomicPtr<Coroutine> = AtomicPtr::new(ptr::null_mut());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The registry's lock, held across a fork (fork.rs).
pub type ForkGuard = MutexGuard<'static, ()>;

pub fn lock_for_fork() -> ForkGuard {
    lock()
}

/// Adds a coroutine that has just been given a stack.
pub fn add(co: &Coroutine) {
    let _g = lock();
    let head = HEAD.load(Ordering::Relaxed);
    co.registry.prev.set(ptr::null());
    co.registry.next.set(head);
    // SAFETY: registered coroutines stay alive until `remove`, which takes
    // the lock we hold.
    if let Some(h) = unsafe { head.as_ref() } {
        h.registry.prev.set(co);
    }
    HEAD.store(ptr::from_ref(co).cast_mut(), Ordering::Relaxed);
}

/// Removes a coroutine whose stack is about to be unmapped.
pub fn remove(co: &Coroutine) {
    let _g = lock();
    let (prev, next) = (co.registry.prev.get(), co.registry.next.get());
    // SAFETY: neighbours are registered, hence alive (we hold the lock).
    match unsafe { prev.as_ref() } {
        Some(p) => p.registry.next.set(next),
        None => HEAD.store(next.cast_mut(), Ordering::Relaxed),
    }
    // SAFETY: as above.
    if let Some(n) = unsafe { next.as_ref() } {
        n.registry.prev.set(prev);
    }
}

/// Calls `f` on every registered coroutine, holding the lock throughout
/// (so `f` must not create or free coroutines).
pub fn for_each(mut f: impl FnMut(&Coroutine)) {
    let _g = lock();
    let mut co = HEAD.load(Ordering::Relaxed).cast_const();
    // SAFETY: registered coroutines stay alive while we hold the lock.
    while let Some(c) = unsafe { co.as_ref() } {
        f(c);
        co = c.registry.next.get();
    }
}

/// Where the gdb script finds things, in bytes from the start of the
/// object. Only this crate knows Rust's field order, and the release build
/// carries line tables but no type information, so the script reads this
/// instead of guessing. `version` changes whenever a field's meaning does.
#[repr(C)]
pub struct GdbLayout {
    version: usize,
    /// In `Coroutine`: the next registered coroutine.
    co_next: usize,
    /// In `Coroutine`: the entry function (NULL-able function pointer).
    co_entry: usize,
    co_entry_arg: usize,
    /// In `Coroutine`: who entered it (NULL while not entered).
    co_caller: usize,
    /// In `Coroutine`: one byte, `coroutine::STATE_*`.
    co_state: usize,
    /// In `Coroutine`: the switch's slot, which holds a suspended
    /// coroutine's saved stack pointer (the frame switch/arch/x86_64.rs
    /// draws; see gdb/qemucoro.py).
    co_sp: usize,
    /// In `Coroutine`: usable stack bottom and size.
    co_stack_bottom: usize,
    co_stack_size: usize,
    /// In `Coroutine`: the AioContext it last ran in.
    co_ctx: usize,
    /// In `Coroutine`: its wait record (coroutine/wait.rs): one byte of
    /// `WAIT_*`, then words (the tid is 32 bits), and `wait_held_slots`
    /// words of rwlock holds.
    co_wait_kind: usize,
    co_wait_object: usize,
    co_wait_arg: usize,
    co_wait_since: usize,
    co_wait_tid: usize,
    co_wait_last_caller: usize,
    co_wait_yield_stamp: usize,
    co_wait_held: usize,
    wait_held_slots: usize,
}

#[used]
#[export_name = "qemucoro_gdb_layout"]
static GDB_LAYOUT: GdbLayout = GdbLayout {
    version: 3,
    co_next: offset_of!(Coroutine, registry) + offset_of!(Link, next),
    co_entry: offset_of!(Coroutine, entry),
    co_entry_arg: offset_of!(Coroutine, entry_arg),
    co_caller: offset_of!(Coroutine, caller),
    co_state: offset_of!(Coroutine, state),
    co_sp: Coroutine::FIBER_OFFSET + qemucoro_switch::layout::SP,
    co_stack_bottom: Coroutine::FIBER_OFFSET + qemucoro_switch::layout::BOTTOM,
    co_stack_size: Coroutine::FIBER_OFFSET + qemucoro_switch::layout::SIZE,
    co_ctx: offset_of!(Coroutine, ctx),
    co_wait_kind: WAIT + offset_of!(Wait, kind),
    co_wait_object: WAIT + offset_of!(Wait, object),
    co_wait_arg: WAIT + offset_of!(Wait, arg),
    co_wait_since: WAIT + offset_of!(Wait, since_ns),
    co_wait_tid: WAIT + offset_of!(Wait, tid),
    co_wait_last_caller: WAIT + offset_of!(Wait, last_caller),
    co_wait_yield_stamp: WAIT + offset_of!(Wait, yield_stamp),
    co_wait_held: WAIT + offset_of!(Wait, held),
    wait_held_slots: HELD_SLOTS,
};

const WAIT: usize = offset_of!(Coroutine, wait);
